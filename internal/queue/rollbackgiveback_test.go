package queue

import (
	"context"
	"testing"
	"time"
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
