package executor

import "syscall"

// setParentDeathSignal makes Linux send SIGKILL to the robot's main process
// when the worker dies without stopping it. The kernel ties this to the
// worker thread that forked the robot, not to the worker process: Go rarely
// ends threads, but one that exits (a goroutine that ends while locked to
// its thread) would kill robots it happened to start. Only the main process
// is covered; its descendants are not.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
