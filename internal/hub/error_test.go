package hub_test

import (
	"errors"
	"fmt"
	"testing"

	"automationhub/internal/hub"
)

func TestDiskFull(t *testing.T) {
	t.Parallel()
	cause := errors.New("write /data/hub.db-wal: no space left on device")
	err := fmt.Errorf("sqlstore.Op: %w", hub.DiskFull(cause))
	if got := hub.ErrorKind(err); got != hub.EUnavailable {
		t.Errorf("kind = %q, want %q", got, hub.EUnavailable)
	}
	if got := hub.ErrorMessage(err); got != hub.MsgDiskFull {
		t.Errorf("message = %q, want %q", got, hub.MsgDiskFull)
	}
	if !errors.Is(err, cause) {
		t.Errorf("%v lost its cause", err)
	}
}
