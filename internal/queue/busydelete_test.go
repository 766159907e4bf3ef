package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-13: the entry that keeps an original back while its holder has
// the taken-over copy in delivery (bucket takenbusy) goes with the
// record. An operator's removal of the original left it behind: nothing
// read it again, and each later complete answer of that holder walked
// and deleted it in a commit of its own.
func TestSRBusyEntryGoesWithTheOriginal(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
		ManagerConfig{Clock: clk, Hostname: "hub-c", RetrySchedule: []time.Duration{time.Hour}})
	o := msg(s, "s@example.org", "f@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.NextAttempt = clk.Now() // deferred, due again (putTest: Ready)
	putTest(t, s, o, []byte(body))
	kept, _, err := q.ShadowCopiesBusy("hub-b", []string{org}, true, time.Hour)
	if err != nil || len(kept) != 1 {
		t.Fatalf("kept back %d originals (%v), want 1", len(kept), err)
	}
	if err := q.RemoveMessage(ctx, o.ID, false); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		if _, server, ok := tx.takenBusyUntil(o.ID); ok {
			t.Errorf("the takenbusy entry (holder %s) outlived the removed original", server)
		}
		return nil
	})
}
