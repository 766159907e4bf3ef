package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// queue11's sequence (AUDIT.md, suspect 2's leftover): hub-a relayed a
// message to hub-b in two transactions (hub-b's records o1 for a@, o2
// for b@, copy ids X1 and X2), was restored from a backup taken after
// that relay, and hub-b, seeing the new database id, pushed o1 again
// under the org id G: hub-a folded its relayed record under G. o2 then
// finishes at hub-b and its discard names X2: it must settle b@ only.
// Before, it settled every recipient filed under G — a@ too, whose o1
// hub-b still holds and, no longer marked, never pushes again: o1 was
// on hub-b's disk alone.
func TestRelayDiscardAfterFoldSettlesItsOwnRecipients(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result { return nil }),
		ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	g := orgid.New()
	rec := &Message{ID: s.NewID(clk.Now()), State: Shadow, From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1",
		Arrived: clk.Now(), OrgID: g}
	x1 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000001"
	x2 := rec.ID.String() + "-" + primaryHash("hub-b") + "-000000000002"
	rec.Rcpts = []Recipient{
		{Addr: "a@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x1},
		{Addr: "b@c.example", Status: Shadowed, Primary: "hub-b", ShadowID: x2},
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(rec, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowContact("hub-b", "db-b", nil); err != nil {
		t.Fatal(err)
	}
	// hub-b pushes o1 again (a@), named by the org id.
	push := &Message{ID: s.NewID(clk.Now()), From: "s@example.org", Connector: "test", ClientIP: "127.0.0.1", Arrived: clk.Now(), OrgID: g,
		Rcpts: []Recipient{{Addr: "a@c.example"}}}
	if _, err := q.SubmitShadowCopy(context.Background(), push, []byte(body), "hub-b", "", "db-b"); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Message(rec.ID); err != nil || got.Rcpts[0].ShadowID != g {
		t.Fatalf("the push was not folded into the relayed record: %+v %v", got, err)
	}
	// o2 is done at hub-b: the discard of X2.
	if _, err := q.ShadowContact("hub-b", "db-b", []string{x2}); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(rec.ID)
	if err != nil {
		t.Fatalf("the copy went whole with X2's discard (a@'s o1 is still at hub-b): %v", err)
	}
	for _, r := range got.Rcpts {
		switch r.Addr {
		case "a@c.example":
			if r.Status != Shadowed {
				t.Errorf("a@ is %v after X2's discard, want still shadowed (o1 is pending at hub-b)", r.Status)
			}
		case "b@c.example":
			if r.Status == Shadowed {
				t.Errorf("b@ still shadowed after X2's discard")
			}
		}
	}
	// o1 done: the org id's discard (its push named it) settles a@.
	if _, err := q.ShadowContact("hub-b", "db-b", []string{g}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(rec.ID); err == nil {
		t.Fatal("the copy stays after both discards")
	}
	// A primary that lost the push's commit still names X1: that settles a@ too.
}
