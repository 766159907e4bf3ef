package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// gatedDeliverer relays every recipient once release is closed.
type gatedDeliverer struct {
	started chan struct{}
	release chan struct{}
}

func (d *gatedDeliverer) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	d.started <- struct{}{}
	<-d.release
	var out []Result
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx.example.net:25", Reply: "250 ok"})
	}
	return out
}

// SR-15, README transport.result_commit_delay (rt21d L7): the results
// of an attempt whose discard a shadow server's session waits for
// (XQUERYDISCARD WAIT=: DiscardSignal) are not set aside for the
// commit delay — whether the wait began before the attempt ended or
// after its results were set aside. The delay here is an hour: a
// discard that arrives at all was not delayed.
func TestWaitedDiscardIsNotDelayedByResultCommitDelay(t *testing.T) {
	for _, waitFirst := range []bool{true, false} {
		name := "results set aside, then the wait"
		if waitFirst {
			name = "wait, then the results"
		}
		t.Run(name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			d := &gatedDeliverer{started: make(chan struct{}, 1), release: make(chan struct{})}
			q := NewManager(s, d, ManagerConfig{Hostname: "huba.test"})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait(); s.Close() }()
			q.Start(ctx)
			m := msg(s, "a@example.org", "alice@example.net")
			m.ShadowServer, m.ShadowID = "hubb.test", "copy-1"
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			<-d.started
			var sig <-chan struct{}
			if waitFirst {
				sig = q.DiscardSignal("hubb.test")
			}
			close(d.release)
			owed := func() bool { ids, _ := q.Discards("hubb.test", 10); return len(ids) > 0 }
			if !waitFirst {
				// Set aside — or committed at once (a discard owed is no
				// result nobody waits for: deferResults), which a wait
				// begun after it would never hear of.
				waitFor(t, "the results to be set aside or the discard owed", func() bool { return s.deferredN.Load() > 0 || owed() })
				sig = q.DiscardSignal("hubb.test")
			}
			if !owed() {
				select {
				case <-sig:
				case <-time.After(20 * time.Second):
					t.Fatal("the discard the shadow server waits for was not committed: held for result_commit_delay")
				}
			}
			if ids, _ := q.Discards("hubb.test", 10); len(ids) != 1 || ids[0] != "copy-1" {
				t.Fatalf("discards %v", ids)
			}
		})
	}
}

// rt21d L7 as seen: the shadow server's relay session stays open (the
// pooled connection's idle reuse) and asks at its end with a plain
// XQUERYDISCARD, no WAIT=: its question is a wait for the discard too.
// The results set aside are committed before the answer, which names
// the copy: not only an hour later, at the next heartbeat.
func TestDiscardQueryCommitsResultsSetAside(t *testing.T) {
	for _, kind := range []string{"full", "partial", "hand-back"} {
		t.Run(kind, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			d := &gatedDeliverer{started: make(chan struct{}, 1), release: make(chan struct{})}
			q := NewManager(s, d, ManagerConfig{Hostname: "huba.test"})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait(); s.Close() }()
			q.Start(ctx)
			m := msg(s, "a@example.org", "alice@example.net")
			m.ShadowServer, m.ShadowID = "hubb.test", "copy-1"
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			<-d.started
			close(d.release)
			// Set aside, or taken along by another commit of the
			// manager's own (then the answer has it either way).
			waitFor(t, "the results to be set aside", func() bool {
				got, _ := stored(s, m.ID)
				return s.deferredN.Load() > 0 || got == nil || got.Rcpts[0].Status.Done()
			})
			var ids []string
			switch kind {
			case "full":
				ids, _ = q.Discards("hubb.test", 10)
			case "partial":
				ids, _ = q.DiscardsPartial("hubb.test", 10)
			default:
				ids, _ = q.DiscardsHandBack("hubb.test", 10)
			}
			if len(ids) != 1 || ids[0] != "copy-1" {
				t.Fatalf("the query was answered %v: the results it waits for were left set aside", ids)
			}
		})
	}
}
