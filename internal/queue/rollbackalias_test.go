package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 with rollback marks, for the copies kept under a send connector's
// host name that reaches the rolled-back primary (primariesOf): taken
// over for failed heartbeats before the rollback, they are not given
// back when the rolled-back primary presents its id in its own XSHADOW
// (ShadowPrimaryPresentedHere speaks for those records too).
func TestSR7RolledBackPrimaryGetsNoAliasCopyBack(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t)
	db := &primaryDB{v: "db1"}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			if db.get() != "" {
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "relay.b.example", PrimaryAddr: "127.0.0.2:25",
					ShadowID: m.ID.String() + "-b", PrimaryDB: db.get(), Reply: "250 queued"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", NextHop: "mx.b.example[192.0.2.1]:25", Reply: "451 4.4.1 later"})
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	q.SetServers(addrTopo{"hub-b": "127.0.0.2:25"})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example")
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State != Active && got.Rcpts[0].Status == Shadowed
	})
	// hub-b's own name: a record with its mark 5 seen.
	if _, err := q.ShadowPresented("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowMarkSeen("hub-b", "db1", 5, q.ShadowMarkFloor("hub-b")); err != nil {
		t.Fatal(err)
	}
	db.set("")
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("relay.b.example", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the taken-over copy's attempt", func() bool {
		got, _ := q.Message(m.ID)
		return got != nil && got.State == Ready && got.Rcpts[0].Status == Pending && got.Attempts == 1
	})
	if err := q.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	rb, _, err := q.ShadowMarkSeen("hub-b", "db1", 2, q.ShadowMarkFloor("hub-b"))
	if err != nil || !rb {
		t.Fatalf("mark 2 after 5: rolled back %v, %v", rb, err)
	}
	given, err := q.ShadowPrimaryPresentedHere("hub-b", "db1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if given != 0 || got.Rcpts[0].Status != Pending {
		t.Fatalf("given back %d to a rolled-back primary (via its connector host name's record): %+v", given, got.Rcpts[0])
	}
}
