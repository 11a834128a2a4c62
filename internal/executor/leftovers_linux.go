package executor

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// killLeftovers ends the processes of a run that escaped its process group
// (setsid, a daemon) where the run has no cgroup: every process whose
// environment still carries the run's HUB_RUN_ID. It returns how many it
// killed. A process that cleared the variable, or that this worker may not
// inspect, escapes it; a cgroup per run catches those too.
func killLeftovers(runID string) int {
	marker := []byte("HUB_RUN_ID=" + runID)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, marker) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
				break
			}
		}
	}
	return killed
}
