//go:build unix

package executor

import (
	"errors"
	"syscall"
)

// isTextBusy reports ETXTBSY: exec of a file that another goroutine's
// fork still holds open for writing (Go issue 22315). A retry succeeds.
func isTextBusy(err error) bool { return errors.Is(err, syscall.ETXTBSY) }
