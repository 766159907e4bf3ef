package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, SR-6 after `umbra db restore` of a holder (restored40 item 1):
// every takeover of a restored database waits for the answers of every
// transport server (RestoredAskPending), not only the one after failed
// heartbeats. The backup holds x's copy for hub-a; the database it
// replaced took x over after the backup and handed it to hub-c, which
// delivers it. hub-a coming back with a new database, presenting a
// rolled-back mark, pushing a copy under a new database, or a direct
// takeover (Manager.Takeover) each took the restored copy over at once and
// delivered it here too — before hub-c's TAKEN line could settle it. The
// taken-over copy now waits: hub-c's line settles it (delivered once,
// from hub-c), and without an answer it goes out when the bound passes.
func TestSR7RestoredHolderEveryTakeoverWaitsForAnswers(t *testing.T) {
	paths := []struct {
		name string
		take func(t *testing.T, q *Manager, s *Store)
	}{
		{"new database presented", func(t *testing.T, q *Manager, _ *Store) {
			if res, err := q.ShadowPresented("hub-a", "dbB", nil); err != nil || res.TakenOver != 1 {
				t.Fatalf("new database: %+v, %v", res, err)
			}
		}},
		{"new database digest", func(t *testing.T, q *Manager, _ *Store) {
			if res, err := q.ShadowPresentedDigest("hub-a", DatabaseDigest("dbB")); err != nil || res.TakenOver != 1 {
				t.Fatalf("new digest: %+v, %v", res, err)
			}
		}},
		{"rollback mark", func(t *testing.T, q *Manager, _ *Store) {
			if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 9, q.ShadowMarkFloor("hub-a")); err != nil {
				t.Fatal(err)
			}
			if rolled, n, err := q.ShadowMarkSeen("hub-a", "dbA", 5, q.ShadowMarkFloor("hub-a")); err != nil || !rolled || n != 1 {
				t.Fatalf("rollback: %v %d %v", rolled, n, err)
			}
		}},
		{"copy on receipt under a new database", func(t *testing.T, q *Manager, s *Store) {
			c := receiptCopy(s, "y@b.example")
			if _, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), "hub-a", "127.0.0.121:7501", "dbB"); err != nil {
				t.Fatal(err)
			}
		}},
		{"direct takeover", func(t *testing.T, q *Manager, _ *Store) {
			if n, err := q.Takeover("hub-a", "taken over"); err != nil || n != 1 {
				t.Fatalf("takeover: %d, %v", n, err)
			}
		}},
	}
	for _, p := range paths {
		for _, answered := range []bool{true, false} {
			name := p.name + "/bound passed"
			if answered {
				name = p.name + "/hub-c answered"
			}
			t.Run(name, func(t *testing.T) {
				var m *Message
				s := openRestored(t, func(s *Store) {
					m = msg(s, "a@example.org", "x@remote.example")
					m.Arrived = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
					shadowHeld(t, s, m, m.ID.String()+"-"+primaryHash("hub-a")+"-000000000001")
				})
				clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				var delivered atomic.Int32
				d := DelivererFunc(func(ctx context.Context, dm *Message, b []byte, rcpts []int) []Result {
					var out []Result
					for _, i := range rcpts {
						if dm.Rcpts[i].Addr == "x@remote.example" {
							delivered.Add(1)
						}
						out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:remote.example", Reply: "250 ok"})
					}
					return out
				})
				q, _ := startManager(t, s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
				if _, err := q.ShadowPresented("hub-a", "dbA", nil); err != nil {
					t.Fatal(err)
				}
				q.SetRestoredAskBound(30*time.Minute, []string{"hub-c"})
				bound := clk.Now().Add(30 * time.Minute)
				p.take(t, q, s)
				waitFor(t, "the taken-over copy delivered or kept back", func() bool {
					got, _ := q.Message(m.ID)
					return delivered.Load() > 0 || got != nil && got.State == Ready && got.Rcpts[0].Status == Pending && !got.NextAttempt.Before(bound)
				})
				if n := delivered.Load(); n != 0 {
					t.Fatalf("the restored copy was taken over and delivered (%d) before every transport server said which copies of the replaced database it holds", n)
				}
				if !answered {
					clk.Advance(31 * time.Minute)
					q.Kick()
					waitFor(t, "the copy delivered after the bound", func() bool { return delivered.Load() == 1 })
					return
				}
				handed := m.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab"
				if fe, _, err := q.ShadowFinishedElsewhere("hub-c", []TakenDone{{ID: handed, Addr: "x@remote.example", Kind: TakenOver}}); err != nil || len(fe) != 1 {
					t.Fatalf("hub-c's TAKEN line: %+v, %v", fe, err)
				}
				q.RestoredAsked()
				// Settled as hub-c's, the record has nothing left here:
				// it is finished (gone from the queue) or says Relayed.
				got, err := q.Message(m.ID)
				if err == nil && got.Rcpts[0].Status != Relayed || err != nil && !errors.Is(err, ErrNotFound) {
					t.Fatalf("after hub-c's TAKEN line: %+v, %v; want x settled as hub-c's", got, err)
				}
				if n := delivered.Load(); n != 0 {
					t.Fatalf("x delivered here %d times; hub-c delivers it", n)
				}
			})
		}
	}
}

// SR-6 after `umbra db restore` of a holder (restored40 item 2): the
// transport servers that answered a restored database's question about
// its predecessor's handed copies are kept (meta restored_answered),
// each after its answer was applied, so that a later start asks only
// those that did not answer and, once every one did, neither asks nor
// waits (RestoredUnanswered, SetRestoredAskBound).
func TestSR6RestoredHolderKeepsWhoAnsweredAcrossRestart(t *testing.T) {
	s := openRestored(t)
	path := s.db.Path()
	servers := []string{"hub-b", "hub-c"}
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if got := q.RestoredUnanswered(servers); len(got) != 2 {
		t.Fatalf("unanswered %v before any answer, want both", got)
	}
	if err := q.RestoredAnsweredBy("Hub-C"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A restart (the process killed after hub-c's answer).
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q2 := NewManager(s2, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if got := q2.RestoredUnanswered(servers); len(got) != 1 || got[0] != "hub-b" {
		t.Fatalf("after a restart: unanswered %v, want hub-b only", got)
	}
	q2.SetRestoredAskBound(time.Hour, servers)
	if !q2.RestoredAskPending() {
		t.Fatal("hub-b has not answered, yet the restart does not wait for it")
	}
	if err := q2.RestoredAnsweredBy("hub-b"); err != nil {
		t.Fatal(err)
	}
	s2.Close()

	s3, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	q3 := NewManager(s3, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if got := q3.RestoredUnanswered(servers); len(got) != 0 {
		t.Fatalf("every server answered before this start, still asking %v", got)
	}
	q3.SetRestoredAskBound(time.Hour, servers)
	if q3.RestoredAskPending() {
		t.Fatal("every server answered before this start, still waiting for them")
	}
	if got := q3.RestoredUnanswered(append(servers, "hub-d")); len(got) != 1 || got[0] != "hub-d" {
		t.Fatalf("a server added to the topology since: unanswered %v, want hub-d", got)
	}
}

// SR-7, SR-6 after `umbra db restore` of a holder (rrrestored40): the
// restored database's wait for the answers is a span of real time from
// its start (the takeover bound), not a reading of the wall clock. A
// step back of the wall clock kept the takeovers (and the primary's
// originals, listed BUSY) waiting for the step's length past the bound,
// a held copy's next attempt set to the bound's old wall time; a step
// forward ended the wait before the bound, the copies taken over before
// a server had answered.
func TestSR7RestoredHolderWaitFollowsClockSteps(t *testing.T) {
	for _, step := range []time.Duration{-24 * time.Hour, 24 * time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			var backup *Message
			s := openRestored(t, func(s *Store) {
				backup = msg(s, "a@example.org", "x@remote.example")
				shadowHeld(t, s, backup, backup.ID.String()+"-"+primaryHash("hub-a")+"-000000000001")
			})
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			q.SetRestoredAskBound(30*time.Minute, []string{"hub-c"})
			clk.Advance(10 * time.Minute)
			clk.Jump(step)
			if !q.RestoredAskPending() {
				t.Fatalf("the wall clock stepped %v, 10 of 30 minutes passed: the wait ended before the bound", step)
			}
			m := &Message{ID: backup.ID, Rcpts: []Recipient{{Addr: "x@remote.example", Status: Pending, Primary: "hub-a", ShadowID: "1-a-1", Queue: "shadow:hub-a"}}}
			var until time.Time
			var held bool
			if err := s.Update(context.Background(), func(tx *Tx) error {
				until, held = q.restoredTakeoverHeld(tx, m)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := clk.Now().Add(20 * time.Minute); !held || !until.Equal(want) {
				t.Fatalf("a taken-over copy of the backup's kept back %v until %v, want until %v (20 real minutes on)", held, until, want)
			}
			clk.Advance(21 * time.Minute)
			if q.RestoredAskPending() {
				t.Fatalf("the wall clock stepped %v, 31 of 30 minutes passed: still waiting", step)
			}
		})
	}
}
