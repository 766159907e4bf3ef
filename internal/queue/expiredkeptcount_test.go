package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, OPS-2: the expired copies kept, not taken over, because their
// primary answers and refuses this server (TestSR6ExpiredCopyOfRefusing
// LivePrimaryKept) are counted as the last expiry pass found them
// (ExpiredKeptCopies, umbra_shadow_expired_kept_copies): a WARN per
// pass alone said nothing a dashboard could alert on, and the copies
// wait on the operator (the primary's refusal) for as long as it lasts.
// A pass that keeps none reads 0.
func TestSR6ExpiredKeptCopiesCounted(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 no route" })
	q := NewManager(s, d, ManagerConfig{MessageExpiration: time.Hour, Clock: clk, Hostname: "hub-c.test"})
	for _, primary := range []string{"hub-a", "hub-a", "hub-b"} {
		m := msg(s, "a@example.org", "x@example.net")
		m.State, m.Arrived = Shadow, clk.Now().Add(-3*time.Hour) // expiration and grace passed
		m.Rcpts[0].Status, m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = Shadowed, primary, m.ID.String()+"-1"
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.ExpiredKeptCopies(); n != 0 {
		t.Fatalf("expired copies kept before any pass: %d; want 0", n)
	}
	q.SetExpiryKeeper(func(primary string) string {
		if primary == "hub-a" {
			return "it answers and refuses this server with the database the copy was made against"
		}
		return ""
	})
	q.pruneDiscards(clk.Now())
	if n := q.ExpiredKeptCopies(); n != 2 {
		t.Fatalf("expired copies kept after a pass keeping hub-a's two: %d; want 2", n)
	}
	q.SetExpiryKeeper(func(string) string { return "" })
	q.pruneDiscards(clk.Now())
	if n := q.ExpiredKeptCopies(); n != 0 {
		t.Fatalf("expired copies kept after a pass that took them over: %d; want 0", n)
	}
}
