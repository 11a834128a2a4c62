package blob_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"automationhub/internal/blob"
	"automationhub/internal/hub"
	"automationhub/internal/hubtest"
)

// TestFullDiskIsUnavailable fills a real small file system: the upload fails
// as hub.EUnavailable with the disk-full message (the cause kept), and once
// the failed upload is aborted the space is back for the next one.
func TestFullDiskIsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := blob.NewLocal(hubtest.SmallDisk(t, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	u, err := l.Create(0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Write(bytes.Repeat([]byte("x"), 2<<20))
	if kind := hub.ErrorKind(err); kind != hub.EUnavailable {
		t.Fatalf("writing 2 MiB to a 1 MiB disk: kind %q (%v), want %q", kind, err, hub.EUnavailable)
	}
	if msg := hub.ErrorMessage(err); msg != hub.MsgDiskFull {
		t.Errorf("message = %q, want %q", msg, hub.MsgDiskFull)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %v lost ENOSPC", err)
	}
	if err := u.Commit("runs/r1/big.bin", false); hub.ErrorKind(err) != hub.EUnavailable {
		t.Errorf("commit after the failed write: %v, want the same disk-full error", err)
	}
	u.Abort()

	small, err := l.Create(0)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Abort()
	if _, err := small.Write([]byte("fits now")); err != nil {
		t.Fatalf("write after the failed upload was aborted: %v", err)
	}
	if err := small.Commit("runs/r1/small.txt", false); err != nil {
		t.Fatalf("commit after the failed upload was aborted: %v", err)
	}
}
