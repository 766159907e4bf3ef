package queue

import "testing"

// Q-3 (rrdeliv39, left by it): a deferral umbra wrote itself for a
// recipient waiting for its mailbox's LMTP turn is umbra's own words
// about the session — a DSN and the views do not present it as the LMTP
// server's reply — while a server's own "mailbox busy" stays the
// server's.
func TestLMTPMailboxTurnDeferralIsUmbrasOwn(t *testing.T) {
	for _, c := range []struct {
		reply string
		own   bool
	}{
		{LMTPMailboxBusy + "(another delivery to it was in progress)", true},
		{LMTPMailboxBusy + "until the LMTP session ended: sent again on a new session", true},
		{"451 4.2.1 mailbox busy", false},
		{"450 4.2.1 mailbox busy, try later", false},
	} {
		if got := lmtpOwn(c.reply); got != c.own {
			t.Errorf("lmtpOwn(%q) = %v, want %v", c.reply, got, c.own)
		}
	}
}
