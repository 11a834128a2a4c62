package hubtest

import (
	"strconv"
	"syscall"
	"testing"
)

// SmallDisk returns a new folder on a file system of only size bytes (a
// tmpfs mounted for the test and unmounted when it ends), to meet a full
// disk for real. It skips the test where mounting is not permitted (not
// root, or in a container without the capability) and on other systems.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)+",mode=0755"); err != nil {
		t.Skipf("cannot mount a small file system here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
