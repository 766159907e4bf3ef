package queue

import (
	"fmt"
	"time"
)

// Claims that fail (rt45 F1). While the claim of due messages fails —
// a full disk whose free pages hold not even a claim of one, with the
// space reserve given up — nothing is delivered, and queue list showed
// the mail "ready … now" with nothing saying why it stayed there: the
// reason was in the daemon's log alone. The run loop notes each failed
// claim here (since when, how many, the last error) and forgets it at
// the first claim that commits, or at a pass that finds nothing due; the admin API says it on every answer
// (admin.ClaimsFailingHeader), and queue list and message list show it.

// ClaimTrouble is the state of claims that fail: since when, how many
// failed, and the last error.
type ClaimTrouble struct {
	Since    time.Time
	Failures int
	Err      string
}

// Text is the trouble in the words the listings show.
func (c ClaimTrouble) Text() string {
	return fmt.Sprintf("claiming due messages for delivery fails since %s (%d failed claims, retried every second): %s; "+
		"due messages wait and none is delivered until a claim commits", c.Since.UTC().Format(time.RFC3339), c.Failures, c.Err)
}

// noteClaimTrouble records a failed claim (the run loop's).
func (q *Manager) noteClaimTrouble(err error) {
	c := ClaimTrouble{Since: q.clk.Now(), Failures: 1, Err: err.Error()}
	if was := q.claimTrouble.Load(); was != nil {
		c.Since, c.Failures = was.Since, was.Failures+1
	}
	q.claimTrouble.Store(&c)
}

// ClaimTrouble says whether claims of due messages fail now, and how;
// false while they commit.
func (q *Manager) ClaimTrouble() (ClaimTrouble, bool) {
	if c := q.claimTrouble.Load(); c != nil {
		return *c, true
	}
	return ClaimTrouble{}, false
}
