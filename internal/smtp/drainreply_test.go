package smtp

import (
	"strings"
	"testing"
)

// A transaction stays busy until its reply to the end of data is
// written: the protocol layer writes that reply after Data returns and
// only then resets the session. A session that counted as idle between
// the two could be closed by a draining Shutdown (closeIdle) with 421
// in place of the 250 of a message already queued — the sender would
// send it again. Data ends the transaction's content, not its busy mark.
func TestDataLeavesTransactionBusyUntilReply(t *testing.T) {
	s := &session{srv: &Server{}}
	s.from = "a@example.org"
	s.busy.Store(true)
	if err := s.data(strings.NewReader("")); err == nil {
		t.Fatal("a transaction without recipients was taken")
	}
	if !s.busy.Load() {
		t.Fatal("the session counts as idle before its reply to the data is written")
	}
	if s.from != "" {
		t.Errorf("the transaction's sender is kept after the data: %q", s.from)
	}
	s.Reset() // what the protocol layer does after the reply
	if s.busy.Load() {
		t.Fatal("the session is still busy after the reset that follows the reply")
	}
}
