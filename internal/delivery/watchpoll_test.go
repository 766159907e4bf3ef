package delivery

import (
	"testing"
	"time"
)

// SR-15 with rt39 F1 (reread): a watch session now stays open for as
// long as copies are held for the primary, not a minute after a sender
// began to wait — hours, while the primary retries a destination that
// is down. To a primary of the previous release (no WAIT=) it is a poll:
// at a pace of watchPollEvery that was a hundred queries a second, per
// primary, for all that time. The pace slows while the queries find
// nothing, to at most watchPollIdle between them, and is quick again at
// the first discard.
func TestWatchPollSlowsWhileNothingIsDiscarded(t *testing.T) {
	if got := watchPollPause(1); got != watchPollEvery {
		t.Errorf("after the first empty query: %v, want %v", got, watchPollEvery)
	}
	var queries int
	var waited time.Duration
	for empty := 1; waited < time.Minute; empty++ {
		p := watchPollPause(empty)
		if p < watchPollPause(empty-1) || p > watchPollIdle {
			t.Fatalf("pause after %d empty queries: %v, want no shorter than the one before and at most %v", empty, p, watchPollIdle)
		}
		waited += p
		queries++
	}
	if queries > 300 {
		t.Errorf("a primary with nothing to discard is asked %d times a minute, want at most 300", queries)
	}
}
