//go:build !linux && !darwin && !windows

package diskspace

import (
	"errors"
	"fmt"
)

// Of is not available on this system.
func Of(path string) (Usage, error) {
	return Usage{}, fmt.Errorf("diskspace.Of(%q): %w", path, errors.ErrUnsupported)
}
