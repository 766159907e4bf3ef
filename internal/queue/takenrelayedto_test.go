package queue

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7: a taken-over copy's recipient relayed, without a shadow
// session, through a smart host (or an administrator's redirect) that
// is one transport server of the topology (Result.RelayedTo): noted for
// the primary it was taken from when that server is another — it took
// the message (its 250) and delivers it, relays it on or fails it with
// its DSN, so the returning primary must not send it again — and not
// when it is the primary itself (its original merges the relay and
// still owes the recipient), nor when the server is not known.
func TestSR6TakenCopyRelayedToAnotherServerNoted(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	sS := openTest(t)
	var on atomic.Bool
	dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if !on.Load() {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "smarthost:hubs", Reply: "451 4.4.1 down"})
				continue
			}
			r := Result{Rcpt: i, Outcome: RelayedOK, Queue: "smarthost:hubs", Reply: "250 ok"}
			switch strings.SplitN(m.Rcpts[i].Addr, "@", 2)[0] {
			case "b":
				r.RelayedTo = "hub-b"
			case "a":
				r.RelayedTo = "HUB-A"
			case "v":
				r.Queue, r.RelayedTo = "redirect:hub-b.rt.test", "hub-b"
			}
			out = append(out, r)
		}
		return out
	})
	qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	c := msg(sS, "s@example.org", "b@x.example", "a@x.example", "u@x.example", "v@x.example")
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := qS.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	on.Store(true)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); qS.Wait() }()
	qS.Start(runCtx)
	waitFor(t, "the taken-over copy relayed", func() bool {
		_, err := qS.Message(c.ID)
		return err != nil
	})
	ns, _ := qS.TakenDoneFor("dbA", 10)
	got := map[string]byte{}
	for _, n := range ns {
		got[n.Addr] = n.Kind
	}
	if len(got) != 2 || got["b@x.example"] != TakenRelayed || got["v@x.example"] != TakenRelayed {
		t.Fatalf("notes for dbA: %+v, want b@ and v@ relayed (to hub-b), none for a@ (to hub-a itself) nor u@ (server not known)", ns)
	}
}
