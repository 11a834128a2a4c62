//go:build !unix

package executor

func isTextBusy(error) bool { return false }
