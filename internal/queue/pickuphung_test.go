package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type seenSink struct {
	mu   sync.Mutex
	seen map[ID]bool
}

func (d *seenSink) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.mu.Lock()
	d.seen[m.ID] = true
	d.mu.Unlock()
	var out []Result
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.net", NextHop: "mx.example.net", Reply: "250 ok"})
	}
	return out
}

func (d *seenSink) got(id ID) bool { d.mu.Lock(); defer d.mu.Unlock(); return d.seen[id] }

// SR-12, Q-1: the pruning of pickup ends asks whether each old end's
// .queued file is gone (pickup.QueuedFileGone: a stat of the pickup
// directory and of the file). A pickup directory whose file system does
// not answer (an NFS hard mount whose server went away: stat blocks in
// the kernel) must not stop the scheduling loop that claims every due
// message: the look runs off the loop. Here the stat that does not
// return is a PickupFileGone that blocks.
func TestSR12HungPickupDirectoryStopsNoDelivery(t *testing.T) {
	for _, hung := range []bool{false, true} {
		name := "pickup directory answers"
		if hung {
			name = "pickup directory hangs"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			// A pickup message ended (its end noted) — real time, as
			// the store writes it.
			p := msg(s, "app@example.org", "ops@remote.example")
			p.Connector, p.Helo, p.Internal = "pickup", "report.eml", true
			p.State, p.NextAttempt = Ready, time.Now().Add(time.Hour)
			if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(p, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(p.ID) }); err != nil {
				t.Fatal(err)
			}
			// Two days on (message_expiration one hour): the end is old.
			clk := clock.NewFake(time.Now().Add(48 * time.Hour))
			release := make(chan struct{})
			gone := func(ID, string) bool {
				if hung {
					<-release // stat(2) on a file system that does not answer
				}
				return true
			}
			d := &seenSink{seen: map[ID]bool{}}
			q := NewManager(s, d, ManagerConfig{Clock: clk, MessageExpiration: time.Hour, RetrySchedule: []time.Duration{time.Hour}, PickupFileGone: gone})
			// Mail due now, of another queue than pickup's.
			m := msg(s, "a@example.org", "b@example.net")
			m.Arrived, m.State, m.NextAttempt = clk.Now(), Ready, clk.Now()
			if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			q.Start(rctx)
			defer func() { close(release); cancel(); q.Wait() }()
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) && !d.got(m.ID) {
				q.Kick()
				time.Sleep(20 * time.Millisecond)
			}
			if !d.got(m.ID) {
				t.Errorf("a due message of queue mx:example.net was not delivered in 5s: the scheduling loop waits on the pickup directory's stat")
			}
		})
	}
}
