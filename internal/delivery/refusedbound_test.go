package delivery

import (
	"testing"
	"time"
)

// README (SR-17): "A server whose sessions are still refused is marked
// again at its next session (its watch or heartbeat for that copy): at
// most one copy a minute goes where it may never be discarded." A holder
// whose session was refused opens none for a heartbeat timeout (package
// shadow: Step skips its heartbeat while refusedRecently, startWatch
// holds its watch while refusedWithin/watchHeld — default
// shadow_heartbeat_timeout 5m). So after the try at a minute its next
// session comes only at 5 minutes; the copy made on the try ends the
// refusal (nothing refused since the try), and every copy in between goes
// to a server whose discard queries are refused.
func TestSR17RefusedHolderAtMostOneCopyAMinute(t *testing.T) {
	r, now := newRaceReceipt(t, &gatedRefusedStore{names: map[string]bool{}})
	t0 := *now
	r.ShadowSessionRefused("hub-b") // its heartbeat, refused; the next one 5 minutes later
	copies := map[int]int{}         // minute → copies made on hub-b
	for s := 0; s < int((5*time.Minute)/(10*time.Second)); s++ {
		*now = t0.Add(time.Duration(s) * 10 * time.Second)
		if r.sessionsRefusedHere("hub-b", "hub-b") == "" {
			r.copyMadeOn("hub-b", "hub-b") // the push succeeds: hub-b accepts copies
			copies[int(now.Sub(t0)/time.Minute)]++
		}
	}
	for m, n := range copies {
		if n > 1 {
			t.Errorf("minute %d after the refusal: %d copies made on hub-b, whose sessions (discard queries) are refused; want at most one a minute (all: %v)", m, n, copies)
		}
	}
}
