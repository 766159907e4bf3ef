package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// givebackRig is a shadow server holding a copy of x@b.example for the
// primary hub-b (database db1). hub-b is the only way to the recipient:
// while it is down (up false) every attempt is deferred; when it is up,
// the attempt presents db1 as a relay session to hub-b does (XSHADOW,
// then ShadowPresented) and sends what GiveBackRcpts leaves it, unless
// a discard is to be fetched during the attempt (discardDuring).
type givebackRig struct {
	s   *Store
	q   *Manager
	clk *clock.Fake

	mu            sync.Mutex
	up            bool
	sent          int    // recipients handed to hub-b (the copy the first time included)
	discardDuring string // a discard the attempt's session fetches before its results
	sid           string // the copy's shadow id
}

func newGivebackRig(t *testing.T) *givebackRig {
	r := &givebackRig{s: openTest(t), clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), up: true}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		r.mu.Lock()
		up, during := r.up, r.discardDuring
		r.mu.Unlock()
		var out []Result
		if !up {
			for _, i := range rcpts {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", NextHop: "hub-b", Reply: "451 4.4.1 connection refused"})
			}
			return out
		}
		if _, err := r.q.ShadowPresented("hub-b", "db1", nil); err != nil {
			t.Error(err)
		}
		back, send := GiveBackRcpts(m, rcpts, "hub-b", "db1")
		for _, i := range back {
			out = append(out, GivenBackResult(m, i, "hub-b", "127.0.0.2:25", "", "db1"))
		}
		for _, i := range send {
			r.mu.Lock()
			r.sent++
			if r.sid == "" {
				r.sid = m.ID.String() + "-b"
			}
			sid := r.sid
			r.mu.Unlock()
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
				ShadowID: sid, PrimaryDB: "db1", Reply: "250 queued"})
		}
		if during != "" {
			// The session's discard query at its end: the primary
			// delivered its original meanwhile.
			if _, err := r.q.ShadowContact("hub-b", "db1", []string{during}); err != nil {
				t.Error(err)
			}
		}
		return out
	})
	r.q = NewManager(r.s, d, ManagerConfig{Clock: r.clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); r.q.Wait() })
	r.q.Start(ctx)
	return r
}

func (r *givebackRig) sentCount() int { r.mu.Lock(); defer r.mu.Unlock(); return r.sent }

// takenOver queues a message, waits for its copy held for hub-b, then
// takes hub-b down and fails three heartbeats: the copy is taken over
// (for failed heartbeats: it may go back to db1) and its attempt
// deferred.
func (r *givebackRig) takenOver(t *testing.T) *Message {
	t.Helper()
	m := msg(r.s, "a@example.org", "x@b.example")
	m.Arrived = r.clk.Now()
	if err := r.q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State == Shadow && got.Rcpts[0].Status == Shadowed
	})
	r.mu.Lock()
	r.up = false
	r.mu.Unlock()
	for i := 0; i < 3; i++ {
		if _, _, err := r.q.ShadowHeartbeatFailed("hub-b", r.clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the taken-over copy's deferred attempt", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts >= 1 && got.Rcpts[0].Status == Pending
	})
	if err := r.q.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// rt16a F1: a relay session to the primary a copy was taken over from,
// answering XSHADOW with the database the copy was taken over from, gives
// back every taken-over copy still waiting — not only a heartbeat: the
// relay may reach the returning primary first.
func TestRelayPresentingSameDatabaseGivesWaitingCopiesBack(t *testing.T) {
	r := newGivebackRig(t)
	m := r.takenOver(t)
	// A relay session of another message opens to hub-b: its XSHADOW
	// reply presents db1. The copy waits for its retry in an hour.
	if _, err := r.q.ShadowPresented("hub-b", "db1", nil); err != nil {
		t.Fatal(err)
	}
	got, _ := r.q.Message(m.ID)
	if got.State != Shadow || got.Rcpts[0].Status != Shadowed || got.Rcpts[0].Primary != "hub-b" {
		t.Fatalf("after hub-b answered a relay's XSHADOW with db1: state %s, rcpt %s; want the copy held for hub-b again",
			got.State, got.Rcpts[0].Status)
	}
	// The primary's discard for its original settles it.
	if _, err := r.q.ShadowContact("hub-b", "db1", []string{got.Rcpts[0].ShadowID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.q.Message(m.ID); got != nil {
		t.Fatalf("the copy given back stays after hub-b's discard: %s", got.State)
	}
	if n := r.sentCount(); n != 1 {
		t.Fatalf("hub-b was sent the message %d times, want once (the first relay)", n)
	}
}

// rt16a F1: the taken-over copy's own attempt reaches the returning
// primary (same database) before any heartbeat: it gives the copy back
// in the commit of its results instead of sending it — the primary
// still has (or finished) the original. The primary's discard, fetched
// by the same session while the copy was in delivery, then settles it.
func TestAttemptToReturningPrimaryGivesCopyBack(t *testing.T) {
	for _, during := range []bool{false, true} {
		name := "discard later"
		if during {
			name = "discard during the attempt"
		}
		t.Run(name, func(t *testing.T) {
			r := newGivebackRig(t)
			m := r.takenOver(t)
			sid := m.ID.String() + "-b"
			r.mu.Lock()
			r.up = true
			if during {
				r.discardDuring = sid
			}
			r.mu.Unlock()
			if err := r.q.RetryMessage(context.Background(), m.ID); err != nil {
				t.Fatal(err)
			}
			r.q.Kick()
			waitFor(t, "the copy's attempt to hub-b", func() bool {
				got, _ := r.q.Message(m.ID)
				return got == nil || got.State == Shadow
			})
			if err := r.q.Settle(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := r.sentCount(); n != 1 {
				t.Fatalf("hub-b was sent the message %d times, want once: the copy taken over from it goes back, unsent", n)
			}
			got, _ := r.q.Message(m.ID)
			if during {
				if got != nil {
					t.Fatalf("the copy stays after the discard its own session fetched: %s %s", got.State, got.Rcpts[0].Status)
				}
				return
			}
			if got == nil || got.Rcpts[0].Status != Shadowed || got.Rcpts[0].ShadowID != sid || got.Rcpts[0].Primary != "hub-b" {
				t.Fatalf("after the attempt: %+v; want the copy held for hub-b under %s", got, sid)
			}
			if _, err := r.q.ShadowContact("hub-b", "db1", []string{sid}); err != nil {
				t.Fatal(err)
			}
			if got, _ := r.q.Message(m.ID); got != nil {
				t.Fatalf("the copy given back stays after hub-b's discard: %s", got.State)
			}
		})
	}
}

// rt16a F1 (sibling): the returning primary's own session to this server
// — its XSHADOW presenting its database id, as the shadow server of its
// relays — gives back the copies taken over from it when the id is the
// one they were taken over from; another id changes nothing there (no
// takeover on a peer's word: this server's next session finds it).
func TestPrimarysOwnSessionGivesCopiesBack(t *testing.T) {
	r := newGivebackRig(t)
	m := r.takenOver(t)
	if n, err := r.q.ShadowPrimaryPresentedHere("hub-b", "db-other"); err != nil || n != 0 {
		t.Fatalf("another database: %d given back, %v", n, err)
	}
	if got, _ := r.q.Message(m.ID); got.Rcpts[0].Status != Pending {
		t.Fatalf("another database presented changed the copy: %s", got.Rcpts[0].Status)
	}
	if n, err := r.q.ShadowPrimaryPresentedHere("hub-b", "db1"); err != nil || n != 1 {
		t.Fatalf("the same database: %d given back, %v; want 1", n, err)
	}
	if got, _ := r.q.Message(m.ID); got.State != Shadow || got.Rcpts[0].Status != Shadowed {
		t.Fatalf("after hub-b's own session presented db1: %s %s; want the copy held for it again", got.State, got.Rcpts[0].Status)
	}
	var p *ShadowPeer
	_ = r.s.View(func(tx *Tx) error { p, _ = tx.Peer("hub-b"); return nil })
	if p == nil || p.DatabaseID != "db1" || p.Failures != 0 {
		t.Fatalf("hub-b's record: %+v; want db1, failures forgotten", p)
	}
}
