//go:build !linux

package main

// hardenProcess has nothing to do outside Linux: there, the process's
// environment is not exposed to other processes of the same user through a
// file system.
func hardenProcess() error { return nil }
