//go:build race

package main

// raceEnabled: the race detector slows the hub several times, so the
// longest tests use smaller inputs under it (and CI runs them at full size
// without it too).
const raceEnabled = true
