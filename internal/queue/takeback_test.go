package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// takebackRig is a shadow server holding a copy of x@b.example for the
// primary hub-b (database db1), whose own route for the recipient
// (mx:b.example) defers, holds in a suspended queue, or blocks in
// delivery until released.
type takebackRig struct {
	s        *Store
	q        *Manager
	clk      *clock.Fake
	db       *primaryDB
	mu       sync.Mutex
	attempts int
	held     bool
	block    chan struct{}
	entered  chan struct{}
}

func newTakebackRig(t *testing.T) *takebackRig { return newTakebackRigLog(t, nil) }

// newTakebackRigLog is newTakebackRig whose manager logs to log.
func newTakebackRigLog(t *testing.T, log *slog.Logger) *takebackRig {
	r := &takebackRig{s: openTest(t), clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		db: &primaryDB{v: "db1"}, entered: make(chan struct{}, 4)}
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		r.mu.Lock()
		r.attempts++
		hold, wait := r.held, r.block
		r.mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			switch {
			case m.Rcpts[i].Addr == "x@b.example" && r.db.get() != "":
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-b", PrimaryAddr: "127.0.0.2:25",
					ShadowID: m.ID.String() + "-b", PrimaryDB: r.db.get(), Reply: "250 queued"})
				continue
			case wait != nil:
				r.entered <- struct{}{}
				<-wait
			}
			if hold {
				out = append(out, Result{Rcpt: i, Outcome: Held, Queue: "mx:b.example", Reply: HeldReply("mx:b.example")})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:b.example", NextHop: "mx.b.example[192.0.2.1]:25",
				Reply: "451 4.4.1 later"})
		}
		return out
	})
	r.q = NewManager(r.s, d, ManagerConfig{Clock: r.clk, RetrySchedule: []time.Duration{time.Hour}, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); r.q.Wait() })
	r.q.Start(ctx)
	return r
}

func (r *takebackRig) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.attempts }

// submit queues a message and waits for its copy to be held for hub-b.
func (r *takebackRig) submit(t *testing.T, rcpts ...string) *Message {
	t.Helper()
	m := msg(r.s, "a@example.org", rcpts...)
	m.Arrived = r.clk.Now()
	if err := r.q.Submit(context.Background(), m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State != Active && got.Rcpts[0].Status == Shadowed
	})
	return m
}

// failHeartbeats makes hub-b unreachable (no route through it) and fails
// the retry count of heartbeats: its copies are taken over.
func (r *takebackRig) failHeartbeats(t *testing.T) {
	t.Helper()
	r.db.set("")
	for i := 0; i < 3; i++ {
		if _, _, err := r.q.ShadowHeartbeatFailed("hub-b", r.clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
}

// rt27 F1: a primary that was only stopped or cut off past the takeover
// delay comes back with the same transport database, and still holds the
// original. A taken-over copy still waiting here — for its own route's
// retry, in a suspended route's queue, redirected, or in its shadow queue
// — becomes a held copy of it again, settled by its discard: sending it
// too would deliver the message twice outside the organisation.
func TestPrimaryBackSameDatabaseGetsWaitingCopiesBack(t *testing.T) {
	for _, where := range []string{"deferred", "suspended queue", "redirected", "poison"} {
		t.Run(where, func(t *testing.T) {
			r := newTakebackRig(t)
			ctx := context.Background()
			m := r.submit(t, "x@b.example")
			if where == "suspended queue" {
				if err := r.q.SuspendQueue(ctx, "mx:b.example"); err != nil {
					t.Fatal(err)
				}
				r.mu.Lock()
				r.held = true
				r.mu.Unlock()
			}
			r.failHeartbeats(t)
			waitFor(t, "the taken-over copy's attempt", func() bool {
				got, _ := r.q.Message(m.ID)
				// Deferred, it stays listed in the shadow queue; held,
				// it waits in its route's.
				return got != nil && (got.State == Ready && got.Attempts == 1 || got.Rcpts[0].Queue == "mx:b.example")
			})
			// As the admin API does before an operator's request: the
			// attempt's results, set aside for a commit to ride along
			// with, are committed first.
			if err := r.q.Settle(ctx); err != nil {
				t.Fatal(err)
			}
			before := r.count()
			switch where {
			case "redirected":
				if n, err := r.q.RedirectQueue(ctx, "shadow:hub-b", "192.0.2.9:25"); err != nil || n != 1 {
					t.Fatalf("redirect: %d %v", n, err)
				}
				r.q.Kick()
				waitFor(t, "the redirected copy's attempt", func() bool {
					got, _ := r.q.Message(m.ID)
					return r.count() == before+1 && got != nil && got.State == Ready
				})
				if err := r.q.Settle(ctx); err != nil {
					t.Fatal(err)
				}
				if got, _ := r.q.Message(m.ID); got.Rcpts[0].Redirect == "" || got.Rcpts[0].Status != Pending {
					t.Fatalf("the redirected copy: %+v", got.Rcpts[0])
				}
			case "poison":
				if err := r.s.Update(ctx, func(tx *Tx) error {
					got, err := tx.Get(m.ID)
					if err != nil {
						return err
					}
					got.State = Poison
					return tx.Put(got)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if c, _ := r.q.ShadowCopies(); c["hub-b"] != (ShadowCopyCount{TakenOver: 1}) {
				t.Fatalf("copies of hub-b while taken over: %+v", c)
			}

			// Taken over, it is held here only (rt55 F1) — unless an
			// operator's suspension holds it.
			if sc, ok := r.q.SingleCopyOf(m.ID); where != "suspended queue" && (!ok || !sc.TakenOver || sc.Lost != "hub-b") {
				t.Fatalf("taken over: mark %+v, %v; want taken over from hub-b", sc, ok)
			}

			// hub-b answers again, with the database the copy was made against.
			res, err := r.q.ShadowContact("hub-b", "db1", nil)
			if err != nil || res.GivenBack != 1 {
				t.Fatalf("contact: %+v %v; want the copy given back", res, err)
			}
			got, err := r.q.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			rc := got.Rcpts[0]
			if got.State != Shadow || rc.Status != Shadowed || rc.Primary != "hub-b" || rc.PrimaryAddr != "127.0.0.2:25" || rc.Redirect != "" {
				t.Fatalf("given back: state %s, recipient %+v", got.State, rc)
			}
			if c, _ := r.q.ShadowCopies(); c["hub-b"] != (ShadowCopyCount{Held: 1}) {
				t.Fatalf("copies of hub-b given back: %+v", c)
			}
			if sc, ok := r.q.SingleCopyOf(m.ID); ok || r.q.SingleCopyCount() != 0 {
				t.Fatalf("given back, still marked held here only: %+v", sc)
			}
			// Nothing sends it: a resume, a retry long after.
			before = r.count()
			if _, err := r.q.ResumeQueue(ctx, "mx:b.example"); err != nil && !errors.Is(err, ErrNotApplicable) { // not suspended: nothing to release (rt18e-F4)
				t.Fatal(err)
			}
			r.clk.Advance(3 * time.Hour)
			r.q.Kick()
			time.Sleep(50 * time.Millisecond)
			if after := r.count(); after != before {
				t.Fatalf("the copy given back was attempted (%d attempts, %d before)", after, before)
			}
			// hub-b delivers its original: its discard settles the copy.
			if _, err := r.q.ShadowContact("hub-b", "db1", []string{m.ID.String() + "-b"}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.q.Message(m.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the copy outlived its primary's discard: %v", err)
			}
			// Failing again takes it over again — had it not been settled.
		})
	}
}

// What a returning primary does not get back: a copy when it presents
// another database (it lost the original), a copy taken over without a
// database id to go back to (Manager.Takeover), and a copy in delivery here when it answers (that attempt may
// hand it on: the README's duplicate window). Its copies given back are
// taken over again when it fails again.
func TestPrimaryBackKeepsWhatItCannotHave(t *testing.T) {
	t.Run("another database", func(t *testing.T) {
		r := newTakebackRig(t)
		m := r.submit(t, "x@b.example")
		r.failHeartbeats(t)
		waitFor(t, "the taken-over copy's attempt", func() bool {
			got, _ := r.q.Message(m.ID)
			return got != nil && got.State == Ready && got.Attempts == 1
		})
		res, err := r.q.ShadowContact("hub-b", "db2", nil)
		if err != nil || res.GivenBack != 0 {
			t.Fatalf("contact with another database: %+v %v", res, err)
		}
		got, _ := r.q.Message(m.ID)
		if got == nil || got.Rcpts[0].Status != Pending {
			t.Fatalf("a primary with another database got the copy back: %+v", got)
		}
		// Not later either, once the new database is the one stored.
		if _, _, err := r.q.ShadowHeartbeatFailed("hub-b", r.clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
		if res, err := r.q.ShadowContact("hub-b", "db2", nil); err != nil || res.GivenBack != 0 {
			t.Fatalf("second contact with the new database: %+v %v", res, err)
		}
	})
	t.Run("takeover without a database id", func(t *testing.T) {
		r := newTakebackRig(t)
		m := r.submit(t, "x@b.example")
		r.db.set("")
		if n, err := r.q.Takeover("hub-b", "test"); err != nil || n != 1 {
			t.Fatalf("takeover: %d %v", n, err)
		}
		waitFor(t, "the taken-over copy's attempt", func() bool {
			got, _ := r.q.Message(m.ID)
			return got != nil && got.State == Ready && got.Attempts == 1
		})
		if res, err := r.q.ShadowContact("hub-b", "db1", nil); err != nil || res.GivenBack != 0 {
			t.Fatalf("contact after a takeover without a database id: %+v %v", res, err)
		}
	})
	t.Run("in delivery", func(t *testing.T) {
		r := newTakebackRig(t)
		m := r.submit(t, "x@b.example")
		release := make(chan struct{})
		r.mu.Lock()
		r.block = release
		r.mu.Unlock()
		r.failHeartbeats(t)
		select {
		case <-r.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the taken-over copy was not attempted")
		}
		res, err := r.q.ShadowContact("hub-b", "db1", nil)
		if err != nil || res.GivenBack != 0 {
			t.Fatalf("contact while the copy is in delivery: %+v %v", res, err)
		}
		close(release)
		waitFor(t, "the attempt's commit", func() bool {
			got, _ := r.q.Message(m.ID)
			return got != nil && got.State == Ready && got.Attempts == 1
		})
		got, _ := r.q.Message(m.ID)
		if got.Rcpts[0].Status != Pending {
			t.Fatalf("a copy in delivery at the contact: %+v", got.Rcpts[0])
		}
	})
	t.Run("fails again", func(t *testing.T) {
		r := newTakebackRig(t)
		m := r.submit(t, "x@b.example")
		r.failHeartbeats(t)
		waitFor(t, "the taken-over copy's attempt", func() bool {
			got, _ := r.q.Message(m.ID)
			return got != nil && got.State == Ready && got.Attempts == 1
		})
		if res, err := r.q.ShadowContact("hub-b", "db1", nil); err != nil || res.GivenBack != 1 {
			t.Fatalf("contact: %+v %v", res, err)
		}
		r.failHeartbeats(t)
		waitFor(t, "the copy taken over again and attempted", func() bool {
			got, _ := r.q.Message(m.ID)
			return got != nil && got.State == Ready && got.Attempts == 2 && got.Rcpts[0].Status == Pending
		})
	})
}

// A takeover kept aside for a message in delivery (another recipient's
// attempt) is dropped when the primary answers again with its database
// before that attempt ends: the copy stays held, not taken over by the
// commit after the primary came back.
func TestPrimaryBackBeforeKeptAsideTakeoverApplies(t *testing.T) {
	r := newTakebackRig(t)
	m := r.submit(t, "x@b.example", "y@c.example")
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
	if res, err := r.q.ShadowContact("hub-b", "db1", nil); err != nil {
		t.Fatalf("contact: %+v %v", res, err)
	}
	close(release)
	waitFor(t, "the attempt's commit", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 2
	})
	got, _ := r.q.Message(m.ID)
	if got.Rcpts[0].Status != Shadowed {
		t.Fatalf("x after its primary came back during the attempt: %+v", got.Rcpts[0])
	}
}
