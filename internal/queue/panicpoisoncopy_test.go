package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-13, Q-2: a message whose attempt panicked goes to the poison queue
// while umbra runs (poisonGiving), the sibling of Recover's move there
// after crashes. The poison queue is a hold the operator sees: that
// commit too settles the message's shadow copy on hub-h, its body here
// reading whole, or hub-h takes the copy over at its expiry and delivers
// it behind the operator's verdict.
func TestQ2PanicPoisonSettlesTheShadowCopy(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result {
		panic("deliverer bug")
	}), ManagerConfig{Clock: clk, Hostname: "hub-p"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := receiptCopy(s, "x@a.example")
	m.ShadowServer, m.ShadowID, m.Arrived = "hub-h", m.OrgID, clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the poisoned attempt", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Poison })
	lines, _ := q.DiscardsPartial("hub-h", 100)
	if !slicesContainsOrg(lines, m.OrgID) {
		t.Fatalf("hub-h is owed %q after the panic moved %s to the poison queue: no discard of its copy, taken over at its expiry", lines, m.ID)
	}
	if got, err := q.Message(m.ID); err != nil || !poisonCopySettled(got) {
		t.Errorf("the poison record does not say its copy was settled (%v): named as hub-h's, asked about, made again while poison", err)
	}
}
