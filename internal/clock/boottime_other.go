//go:build !linux

package clock

import "time"

// boottime has no clock that counts a suspend here: Real.Boottime is
// its Monotonic.
func boottime() (time.Duration, bool) { return 0, false }

var (
	bootStart time.Duration
	bootOK    bool
)
