package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-11 (shadow31 S3): a copy whose primary is alive and refuses
// this server with the database the copy was made against (its shadow
// verbs taken away by a reload, its connector's right) was taken over at
// its expiry all the same and delivered a second time: the primary owns
// the message's expiry — it delivered it, or bounces it —, and its
// discard cannot reach this server while it refuses. The shadow view
// says which primaries so live (SetExpiryKeeper): their expired copies
// are kept, not taken over, until the primary lets this server in (its
// discards settle them) or stops answering (its failed heartbeats take
// them over). A copy of another primary is taken over at its expiry as
// before; so is one of a primary that disowned this server (its refusal
// is a renamed server's too, whose copies are the only ones).
func TestSR6ExpiredCopyOfRefusingLivePrimaryKept(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 no route" })
	q := NewManager(s, d, ManagerConfig{MessageExpiration: time.Hour, Clock: clk, Hostname: "hub-c.test"})
	copyOf := func(primary string) *Message {
		m := msg(s, "a@example.org", "x@example.net")
		m.State, m.Arrived = Shadow, clk.Now().Add(-3*time.Hour) // expiration and grace passed
		m.Rcpts[0].Status, m.Rcpts[0].Primary, m.Rcpts[0].ShadowID = Shadowed, primary, m.ID.String()+"-1"
		m.Rcpts[0].Notify = NotifyFailure
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		return m
	}
	refusing, other, disowned := copyOf("hub-a"), copyOf("hub-b"), copyOf("hub-d")
	if err := q.ShadowDisowned("hub-d", "550 5.7.1 Database id 00aa is another server's here; nothing changed"); err != nil {
		t.Fatal(err)
	}
	q.SetExpiryKeeper(func(primary string) string {
		if primary == "hub-a" || primary == "hub-d" {
			return "it answers and refuses this server with the database the copy was made against"
		}
		return ""
	})
	q.pruneDiscards(clk.Now())
	if m, err := q.Message(refusing.ID); err != nil || m.State != Shadow || m.Rcpts[0].Status != Shadowed {
		t.Fatalf("the expired copy of a primary that answers and refuses this server was taken over (a second delivery while it owns the message): %+v %v", m, err)
	}
	for _, c := range []*Message{other, disowned} {
		if m, err := q.Message(c.ID); err != nil || m.State == Shadow || m.Rcpts[0].Status == Shadowed {
			t.Fatalf("the expired copy of %s was not taken over: %+v %v", c.Rcpts[0].Primary, m, err)
		}
	}
	// The primary stops answering (its refusal no longer stands): the
	// next pass takes the copy over.
	q.SetExpiryKeeper(func(string) string { return "" })
	q.pruneDiscards(clk.Now())
	if m, err := q.Message(refusing.ID); err != nil || m.State == Shadow || m.Rcpts[0].Status == Shadowed {
		t.Fatalf("the expired copy was not taken over once its primary no longer refuses: %+v %v", m, err)
	}
}
