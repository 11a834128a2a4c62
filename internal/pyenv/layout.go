package pyenv

import (
	"path/filepath"
	"runtime"
	"strings"
)

// BinDir is the folder of a virtual environment that holds its programs on
// the OS goos: Scripts on Windows, bin elsewhere.
func BinDir(env, goos string) string {
	if goos == "windows" {
		return joinFor(goos, env, "Scripts")
	}
	return joinFor(goos, env, "bin")
}

// PythonPath is a virtual environment's interpreter on the OS goos:
// Scripts\python.exe on Windows, bin/python elsewhere.
func PythonPath(env, goos string) string {
	if goos == "windows" {
		return joinFor(goos, BinDir(env, goos), "python.exe")
	}
	return joinFor(goos, BinDir(env, goos), "python")
}

// joinFor joins path elements with the separator of goos (so that the
// Windows layout can be checked on any OS).
func joinFor(goos string, elem ...string) string {
	if goos == runtime.GOOS {
		return filepath.Join(elem...)
	}
	sep := "/"
	if goos == "windows" {
		sep = `\`
	}
	return strings.Join(elem, sep)
}
