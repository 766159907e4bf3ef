package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt19 reread (mendq19b 4): when the copy of a message held by this
// server only is made again and named in its record, a server its copy
// was pushed to without confirmation gets the discard of that copy —
// unless another record here, of the same org id, still needs the copy
// that server holds under that id (siblingcopy.go): S applies a discard
// to every recipient shadowed under the id, and that record's pending
// recipients would lose their copy there. (SR-17)
func TestNamedCopyHolderSparesSiblingsCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background() // not started: nothing is scheduled after the first attempt
	a := receiptCopy(s, "x@b.example")
	a.ShadowServer, a.ShadowID = "hub-p", a.OrgID
	if err := q.Submit(ctx, a, []byte(body)); err != nil {
		t.Fatal(err)
	}
	b := msg(s, "a@example.org", "y@c.example")
	b.OrgID, b.NoCopy = a.OrgID, true
	if err := q.Submit(ctx, b, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// Submit starts the first attempt itself, started manager or not:
	// its end (no result from this deliverer) is waited for, so that the
	// copy is named in the record, not kept as a mark for an attempt's
	// end (holders.go: one writer per message).
	waitFor(t, "the first attempt's end", func() bool {
		m, err := q.Message(b.ID)
		return err == nil && m.State != Active
	})
	if _, err := q.RecopyPushing(b.ID, "hub-p"); err != nil {
		t.Fatal(err)
	}
	if err := q.ShadowRecopied(b.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if lines, _ := q.DiscardsPartial("hub-p", 100); slices.Contains(lines, a.OrgID) {
		t.Fatalf("owed to hub-p: %q; the copy %s that record %s still needs is discarded", lines, a.OrgID, a.ID)
	}
	got, _ := q.Message(b.ID)
	if got.ShadowServer != "hub-c" {
		t.Fatalf("record names %q, want hub-c", got.ShadowServer)
	}
}
