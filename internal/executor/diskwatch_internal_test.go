package executor

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDiskUsage counts files in nested folders, does not follow links out of
// the folder, and stops early once over the limit.
func TestDiskUsage(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	outside := t.TempDir()
	write := func(p string, n int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "a.bin"), 3000)
	write(filepath.Join(root, "deep", "er", "b.bin"), 5000)
	write(filepath.Join(outside, "huge.bin"), 1<<20)
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Skipf("symbolic links: %v", err)
	}
	files := int64(8000)
	got := diskUsage(root, 1<<30)
	// Folders and the link count their own (small) size too.
	if got < files || got > files+64<<10 {
		t.Errorf("diskUsage: got %d, want the 8000 bytes of the files plus a little for folders and the link", got)
	}
	if got := diskUsage(root, 100); got <= 100 || got >= files {
		t.Errorf("diskUsage with limit 100: got %d, want just over 100 (an early stop)", got)
	}
}

// TestWatchDisk reports a folder over its limit once, and stops cleanly.
func TestWatchDisk(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := watchDisk(root, 1000)
	if err := os.WriteFile(filepath.Join(root, "big"), make([]byte, 2000), 0o640); err != nil {
		t.Fatal(err)
	}
	select {
	case used := <-d.over:
		if used <= 1000 {
			t.Errorf("reported %d bytes, want more than the limit 1000", used)
		}
	case <-time.After(10 * diskEvery):
		t.Fatal("no report for a folder over its limit")
	}
	d.stop()
	d.stop()
}
