package diskspace

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// Of returns the space of the volume that holds path.
func Of(path string) (Usage, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return Usage{}, fmt.Errorf("diskspace.Of(%q): %w", path, err)
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return Usage{}, fmt.Errorf("diskspace.Of(%q): %w", path, err)
	}
	return Usage{Free: free, Total: total}, nil
}
