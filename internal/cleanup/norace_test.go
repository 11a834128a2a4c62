//go:build !race

package cleanup_test

const raceEnabled = false
