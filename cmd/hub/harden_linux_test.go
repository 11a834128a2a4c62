package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestHubEnvironIsUnreadableToItsOwnUser starts the hub binary as an
// unprivileged user with a secret in its environment, then reads its
// /proc/<pid>/environ as the same user — what a robot running as that user
// would do. The hub is non-dumpable, so the read is refused; the same read of
// an ordinary process of that user succeeds, which shows the test can tell.
func TestHubEnvironIsUnreadableToItsOwnUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run processes as another user")
	}
	const uid, gid = 65534, 65534 // nobody
	bin := hubBinary(t)
	// The binary's folder and a data folder the unprivileged user can use.
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "hub-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	asNobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	const secret = "hub-secret-key-that-no-robot-may-read-0123456789"
	hub := exec.Command(bin)
	hub.Dir = dir
	hub.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "HUB_ADDR=127.0.0.1:0", "SECRET_KEY=" + secret,
		"ENVIRONMENT=test", "PASSWORD_HASH_COST=4"}
	hub.SysProcAttr = asNobody
	p := &hubProcess{cmd: hub, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	hub.Stdout, hub.Stderr = p.stdout, p.stderr
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- hub.Wait() }()
	t.Cleanup(func() { _ = hub.Process.Kill() })
	p.waitFor(t, "running at ")

	read := func(pid int) (string, error) {
		cat := exec.Command("cat", "/proc/"+strconv.Itoa(pid)+"/environ")
		cat.SysProcAttr = asNobody
		out, err := cat.CombinedOutput()
		return string(out), err
	}
	if out, err := read(hub.Process.Pid); err == nil || strings.Contains(out, secret) {
		t.Errorf("a process of the hub's user read its environment (err %v):\n%s", err, out)
	}
	ordinary := exec.Command("sleep", "30")
	ordinary.Env = []string{"MARKER=readable"}
	ordinary.SysProcAttr = asNobody
	if err := ordinary.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ordinary.Process.Kill(); ordinary.Wait() }()
	if out, err := read(ordinary.Process.Pid); err != nil || !strings.Contains(out, "MARKER=readable") {
		t.Errorf("control: reading an ordinary process of the same user failed (%v): %q", err, out)
	}
	p.stop(t)
}
