package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt55 F1: a copy taken over is the message's only copy — the primary
// that held the other lost it, or cannot be reached — until a copy is
// made elsewhere. The takeover's commit marks it held by this server
// only (shown, counted, copied again by the holders' pass like a lost
// copy); the copy made again takes the mark away and names its holder,
// whose discard the message's delivery then writes.
func TestTakenOverCopyIsHeldHereOnly(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	ctx := context.Background() // not started: nothing is delivered
	m := receiptCopy(s, "x@b.example", "y@c.example")
	if _, err := q.SubmitShadowCopy(ctx, m, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil {
		t.Fatal(err)
	}
	if n := q.SingleCopyCount(); n != 0 {
		t.Fatalf("a copy held for its primary counted held here only (%d)", n)
	}
	clk.Advance(time.Minute)
	if n, err := q.Takeover("hub-a", "it returned with a new transport database"); err != nil || n != 1 {
		t.Fatalf("Takeover = %d, %v", n, err)
	}
	single, err := q.SingleCopies()
	if err != nil || len(single) != 1 || single[0].ID != m.ID {
		t.Fatalf("single copies after the takeover: %+v, %v; want %s", single, err, m.ID)
	}
	if !single[0].TakenOver || single[0].Lost != "hub-a" || !single[0].Since.Equal(clk.Now()) {
		t.Fatalf("mark %+v; want taken over from hub-a at %v", single[0], clk.Now())
	}
	if s := single[0].String(); !strings.Contains(s, "taken over from hub-a") {
		t.Fatalf("shown as %q", s)
	}
	if n := q.SingleCopyCount(); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	if sc, ok := q.SingleCopyOf(m.ID); !ok || !sc.TakenOver {
		t.Fatalf("SingleCopyOf = %+v, %v", sc, ok)
	}

	cp, _, ok, err := q.RecopyCandidate(m.ID)
	if err != nil || !ok || len(cp.Rcpts) != 2 {
		t.Fatalf("RecopyCandidate = %+v, %v, %v; want both recipients", cp, ok, err)
	}
	if err := q.ShadowRecopied(m.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.SingleCopyOf(m.ID); ok {
		t.Fatal("still marked after its copy was made on hub-c")
	}
	got, err := q.Message(m.ID)
	if err != nil || got.ShadowServer != "hub-c" || got.ShadowID != m.OrgID {
		t.Fatalf("record %+v, %v; want its copy named on hub-c", got, err)
	}
}
