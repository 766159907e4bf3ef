package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, OPS (rcptmark45 item 2): a receipt marks its message held by
// this server only before it tries the next candidate, untracked; the
// "single-copy" event is written by TrackSingleCopy at the receipt's end
// only while the mark stands — never for a copy the next candidate took
// (the mark settled), once for one no candidate took.
func TestSingleCopyUntrackedMarkTrackedOnlyWhileItStands(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var got []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "single-copy" {
			mu.Lock()
			got = append(got, m.ID.String())
			mu.Unlock()
		}
	})
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk, Events: ev})
	events := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	made := receiptCopy(s, "x@b.example")
	made.ShadowServer, made.ShadowID = "hub-c", made.OrgID
	lost := receiptCopy(s, "y@b.example")
	lost.ShadowServer, lost.ShadowID = "hub-c", lost.OrgID
	for _, m := range []*Message{made, lost} {
		if err := q.Submit(context.Background(), m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if err := q.MarkSingleCopyUntracked(m.ID, "hub-c", "452 4.3.1 full"); err != nil {
			t.Fatal(err)
		}
	}
	if e := events(); len(e) != 0 {
		t.Fatalf("untracked marks wrote single-copy events %q", e)
	}
	// The next candidate takes made's copy; lost's is taken by none.
	if err := q.ShadowRecopied(made.ID, "hub-b"); err != nil {
		t.Fatal(err)
	}
	q.TrackSingleCopy(made.ID)
	q.TrackSingleCopy(lost.ID)
	if e := events(); len(e) != 1 || e[0] != lost.ID.String() {
		t.Fatalf("single-copy events %q, want one, of %s (held here only at the receipt's end)", e, lost.ID)
	}
}
