package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt55 F2: a partial discard that reaches this server before the copy
// on receipt it names (the primary relayed some recipients while the
// copy's commit here was slow) is kept, as a full one is, and applied
// when the copy comes: the copy holds only the recipients still owed,
// so a takeover later sends none of the finished ones again.
func TestPartialDiscardBeforeCopyKept(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	m := receiptCopy(s, "x@b.example", "y@c.example")
	pd := PartialDiscard{ID: m.OrgID, Addr: "x@b.example"}
	if _, err := q.ShadowContact("hub-a", "dbA", []string{pd.Wire()}); err != nil {
		t.Fatal(err)
	}
	stored, err := q.SubmitShadowCopy(context.Background(), m, []byte(body), "hub-a", "127.0.0.1:25", "dbA")
	if err != nil || !stored {
		t.Fatalf("SubmitShadowCopy = %v, %v; want stored (y@ is still owed)", stored, err)
	}
	if n, err := q.Takeover("hub-a", "test"); err != nil || n != 1 {
		t.Fatalf("Takeover = %d, %v", n, err)
	}
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Rcpts {
		if r.Addr == "x@b.example" && r.Status == Pending {
			t.Fatalf("x@ pending after the takeover although its partial discard came before the copy: %+v", got.Rcpts)
		}
		if r.Addr == "y@c.example" && r.Status != Pending {
			t.Fatalf("y@ = %v after the takeover; want pending", r.Status)
		}
	}

	// Every recipient settled by partial discards before the copy: the
	// copy is not stored at all.
	m2 := receiptCopy(s, "x@b.example")
	if _, err := q.ShadowContact("hub-a", "dbA", []string{PartialDiscard{ID: m2.OrgID, Addr: "x@b.example"}.Wire()}); err != nil {
		t.Fatal(err)
	}
	if stored, err := q.SubmitShadowCopy(context.Background(), m2, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || stored {
		t.Fatalf("SubmitShadowCopy = %v, %v; want not stored (nothing owed)", stored, err)
	}
}
