//go:build race

package smtp

// raceEnabled: the race detector changes escape analysis, so allocation
// counts are only checked without it.
const raceEnabled = true
