package main

import "golang.org/x/sys/windows"

// diskSpace returns the bytes free (for this user) and the size of the
// volume holding path.
func diskSpace(path string) (free, total uint64, err error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, 0, err
	}
	var avail, size, all uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &size, &all); err != nil {
		return 0, 0, err
	}
	return avail, size, nil
}
