package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7 with rollback marks: a primary whose copies were taken over for
// failed heartbeats and that comes back rolled back — an older file of
// the same database, the same id, presenting a mark below the one seen —
// does not hold the originals of those copies. The rollback takes over
// what is still held, and the copies taken over before stay taken over:
// a later answer with the same id (a session this server opens, the
// primary's own relay XSHADOW) gives nothing back, and the copy is
// delivered from here.
func TestSR7RolledBackPrimaryGetsNoTakenOverCopyBack(t *testing.T) {
	for _, how := range []string{"contact", "presented", "relay"} {
		t.Run(how, func(t *testing.T) {
			r := newTakebackRig(t)
			m := r.submit(t, "x@b.example")
			floor := r.q.ShadowMarkFloor("hub-b")
			if _, _, err := r.q.ShadowMarkSeen("hub-b", "db1", 5, floor); err != nil {
				t.Fatal(err)
			}
			r.failHeartbeats(t)
			waitFor(t, "the taken-over copy's attempt", func() bool {
				got, _ := r.q.Message(m.ID)
				return got != nil && got.State == Ready && got.Attempts == 1
			})
			if err := r.q.Settle(context.Background()); err != nil {
				t.Fatal(err)
			}
			// hub-b is back, from a file copy made before mark 5.
			floor = r.q.ShadowMarkFloor("hub-b")
			rb, _, err := r.q.ShadowMarkSeen("hub-b", "db1", 2, floor)
			if err != nil || !rb {
				t.Fatalf("mark 2 after 5: rolled back %v, %v; want a rollback", rb, err)
			}
			// shadow list's WHY names it (the contact resets the failures).
			if n := r.q.ShadowRollbacks()["hub-b"]; n.Mark != 2 || n.Seen != 5 || !n.At.Equal(r.clk.Now()) {
				t.Fatalf("rollback note %+v; want mark 2, 5 seen, now", n)
			}
			var given int
			switch how {
			case "contact":
				res, err := r.q.ShadowContact("hub-b", "db1", nil)
				if err != nil {
					t.Fatal(err)
				}
				given = res.GivenBack
			case "presented":
				res, err := r.q.ShadowPresented("hub-b", "db1", nil)
				if err != nil {
					t.Fatal(err)
				}
				given = res.GivenBack
			case "relay":
				if given, err = r.q.ShadowPrimaryPresentedHere("hub-b", "db1"); err != nil {
					t.Fatal(err)
				}
			}
			got, _ := r.q.Message(m.ID)
			if given != 0 || got.Rcpts[0].Status != Pending {
				t.Fatalf("given back %d to a rolled-back primary: recipient %+v", given, got.Rcpts[0])
			}
			// It stays this server's to deliver: a retry attempts it.
			before := r.count()
			r.clk.Advance(2 * time.Hour)
			r.q.Kick()
			waitFor(t, "the taken-over copy's next attempt", func() bool { return r.count() > before })
		})
	}
}

// The takeover kept aside for a message in delivery when the heartbeats
// failed stays too when the primary comes back rolled back: the attempt's
// commit applies it, it is not dropped as given back.
func TestSR7RolledBackPrimaryKeptAsideTakeoverApplies(t *testing.T) {
	r := newTakebackRig(t)
	m := r.submit(t, "x@b.example", "y@c.example")
	if _, _, err := r.q.ShadowMarkSeen("hub-b", "db1", 5, r.q.ShadowMarkFloor("hub-b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "y's deferral", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	release := make(chan struct{})
	r.mu.Lock()
	r.block = release
	r.mu.Unlock()
	r.clk.Advance(2 * time.Hour)
	r.q.Kick()
	select {
	case <-r.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("y was not attempted again")
	}
	r.failHeartbeats(t) // x is shadowed, its message in delivery: kept aside
	if rb, _, err := r.q.ShadowMarkSeen("hub-b", "db1", 2, r.q.ShadowMarkFloor("hub-b")); err != nil || !rb {
		t.Fatalf("rollback: %v %v", rb, err)
	}
	if res, err := r.q.ShadowContact("hub-b", "db1", nil); err != nil || res.GivenBack != 0 {
		t.Fatalf("contact: %+v %v", res, err)
	}
	close(release)
	waitFor(t, "the attempt's commit", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State != Active && got.Attempts >= 2
	})
	got, _ := r.q.Message(m.ID)
	if got.Rcpts[0].Status != Pending || got.Rcpts[0].Primary != "hub-b" { // taken over, attempted from here since
		t.Fatalf("x after its primary came back rolled back during the attempt: %+v", got.Rcpts[0])
	}
}

// The copy in delivery whose own session meets the returning primary: its
// attempt decides to give it back from what its claim read (givebackrelay.go),
// but the same session's XSHADOW reply presented a rollback mark, which
// the holder recorded first. The attempt's commit keeps the copy taken
// over: the rolled-back primary does not hold its original.
func TestSR7RolledBackPrimaryAttemptGivesNothingBack(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var q *Manager
	var mu sync.Mutex
	phase := 0 // 0: the copy is made; 1: the returning rolled-back primary; 2: after
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		p := phase
		if p == 1 {
			phase = 2
		}
		mu.Unlock()
		var out []Result
		switch p {
		case 0:
			for _, i := range rcpts {
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
					ShadowID: m.ID.String() + "-b", PrimaryDB: "db1", Reply: "250 queued"})
			}
		case 1:
			// The session's XSHADOW reply: the same id, a mark below
			// the one seen (delivery: watchMarks, before any transaction).
			if rb, _, err := q.ShadowMarkSeen("hub-b", "db1", 2, q.ShadowMarkFloor("hub-b")); err != nil || !rb {
				t.Errorf("rollback in the attempt's session: %v %v", rb, err)
			}
			back, send := GiveBackRcpts(m, rcpts, "hub-b", "db1")
			for _, i := range back {
				out = append(out, GivenBackResult(m, i, "hub-b", "127.0.0.2:25", "", "db1"))
			}
			for _, i := range send {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", Reply: "451 4.4.1 later"})
			}
		default:
			for _, i := range rcpts {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", Reply: "451 4.4.1 later"})
			}
		}
		return out
	})
	q = NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
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
	if _, _, err := q.ShadowMarkSeen("hub-b", "db1", 5, q.ShadowMarkFloor("hub-b")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	phase = 1
	mu.Unlock()
	for i := 0; i < 3; i++ {
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the taken-over copy's attempt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		got, _ := q.Message(m.ID)
		return phase == 2 && got != nil && got.State != Active
	})
	if err := q.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Message(m.ID)
	if rc := got.Rcpts[0]; rc.Status != Pending || rc.Primary != "hub-b" {
		t.Fatalf("given back in the session that saw the rollback: %s, %+v", got.State, rc)
	}
	if res, err := q.ShadowContact("hub-b", "db1", nil); err != nil || res.GivenBack != 0 {
		t.Fatalf("contact after: %+v %v", res, err)
	}
}
