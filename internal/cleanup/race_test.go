//go:build race

package cleanup_test

// raceEnabled: the race detector also instruments the pure-Go SQLite engine,
// which makes it about 30× slower; the million-row SQLite case shrinks then.
const raceEnabled = true
