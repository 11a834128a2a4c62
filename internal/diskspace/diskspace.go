// Package diskspace reports the free and total space of the file system
// that holds a path.
package diskspace

// Usage is the space of one file system, in bytes.
type Usage struct {
	// Free is what an unprivileged process may still write.
	Free uint64
	// Total is the size of the file system.
	Total uint64
}
