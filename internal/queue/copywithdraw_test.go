package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt20a F1 (SR-3, SR-17): a copy its push's commit stored anew (New) is
// withdrawn when the primary gave up on the push; the primary's later
// discard finds nothing, and a push of the same copy found kept already
// (New false: the record confirmed by an earlier answer) is not marked
// for withdrawal. Another primary's copy is never touched.
func TestWithdrawShadowCopiesRemovesOnlyTheFreshCopy(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background()
	kept := receiptCopy(s, "x@b.example")
	again := *kept
	again.ID = s.NewID(clk.Now().Add(time.Second))
	again.Rcpts = append([]Recipient(nil), kept.Rcpts...)
	fresh := receiptCopy(s, "y@c.example", "z@c.example")
	other := receiptCopy(s, "w@d.example")
	res, err := q.SubmitShadowCopies(ctx, []ShadowCopy{{M: kept, Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbA")
	if err != nil || !res[0].Stored || !res[0].New {
		t.Fatalf("first push: %+v, %v; want stored anew", res, err)
	}
	res, err = q.SubmitShadowCopies(ctx, []ShadowCopy{{M: &again, Body: MemBody([]byte(body))}, {M: fresh, Body: MemBody([]byte(body))}}, "hub-a", "127.0.0.1:25", "dbA")
	if err != nil || !res[0].Stored || res[0].New || !res[1].Stored || !res[1].New {
		t.Fatalf("repeat and fresh: %+v, %v; want the repeat found kept (not new), the other stored anew", res, err)
	}
	if _, err := q.SubmitShadowCopies(ctx, []ShadowCopy{{M: other, Body: MemBody([]byte(body))}}, "hub-b", "127.0.0.2:25", "dbB"); err != nil {
		t.Fatal(err)
	}
	// The primary gave up on the second push: its fresh copy is withdrawn;
	// naming the other primary's record, or the kept one under another
	// primary, withdraws nothing.
	n, err := q.WithdrawShadowCopies(ctx, "hub-a", []ID{fresh.ID, other.ID})
	if err != nil || n != 1 {
		t.Fatalf("WithdrawShadowCopies = %d, %v; want 1", n, err)
	}
	if got, _ := q.Message(fresh.ID); got != nil {
		t.Fatalf("withdrawn copy still held: %+v", got)
	}
	if n, err := q.WithdrawShadowCopies(ctx, "hub-b", []ID{kept.ID}); err != nil || n != 0 {
		t.Fatalf("withdrawing hub-a's copy for hub-b = %d, %v; want 0", n, err)
	}
	for _, id := range []ID{kept.ID, other.ID} {
		if got, err := q.Message(id); err != nil || got == nil || got.State != Shadow {
			t.Fatalf("copy %s: %+v, %v; want still held", id, got, err)
		}
	}
	counts, _ := q.ShadowCopies()
	if counts["hub-a"].Held != 1 || counts["hub-b"].Held != 1 {
		t.Fatalf("held %+v; want one copy for each primary", counts)
	}
	// The primary's discard of the withdrawn copy finds nothing.
	if r, err := q.ShadowContact("hub-a", "dbA", []string{fresh.OrgID}); err != nil || r.Discarded != 0 {
		t.Fatalf("discard of the withdrawn copy: %+v, %v; want nothing discarded", r, err)
	}
}
