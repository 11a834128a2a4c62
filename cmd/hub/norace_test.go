//go:build !race

package main

// raceEnabled is false: tests use their full sizes.
const raceEnabled = false
