package queue

import "testing"

// a group whose delivery panicked (package delivery recovers it:
// PanicReply) tells nothing of its next hop: its destination's window
// neither grows nor shrinks, and no failure counts toward its death.
func TestPanicReplyGivesNoFeedback(t *testing.T) {
	if fb := feedback([]Result{{Rcpt: 0, Outcome: Deferred, Reply: PanicReply}, {Rcpt: 1, Outcome: Deferred, Reply: PanicReply}}); fb != 0 {
		t.Fatalf("feedback of a recovered panic: %d, want 0", fb)
	}
}
