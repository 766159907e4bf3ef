package queue

import (
	"strings"
	"testing"
)

// OPS-4 (the sibling of shadowout48 F4): a copy kept back while the
// server that took it over delivers it (BUSY), or held there by its
// administrator (HELD), says what that server answered, not why it took
// the copy over — a failed heartbeat, a new or rolled-back database, the
// copy's expiry —: never "while this server was away".
func TestTakenBackReasonsSayNoWhy(t *testing.T) {
	for _, got := range []string{takenBusyReason("hub-b"), heldTakenBackReason("hub-b")} {
		if strings.Contains(got, "while this server was away") || !strings.Contains(got, "hub-b") {
			t.Errorf("%q", got)
		}
	}
}
