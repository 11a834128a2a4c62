package diskspace_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"automationhub/internal/diskspace"
)

func TestOf(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		t.Skip("not supported here")
	}
	u, err := diskspace.Of(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if u.Total == 0 || u.Free > u.Total {
		t.Errorf("got free %d of %d bytes, want 0 <= free <= total and total > 0", u.Free, u.Total)
	}
	if _, err := diskspace.Of(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing path: got no error")
	}
}
