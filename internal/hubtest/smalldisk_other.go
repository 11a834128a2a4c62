//go:build !linux

package hubtest

import "testing"

// SmallDisk would return a folder on a file system of only size bytes; it
// needs a Linux tmpfs, so elsewhere it skips the test.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	t.Skip("a small file system for the test needs Linux")
	return ""
}
