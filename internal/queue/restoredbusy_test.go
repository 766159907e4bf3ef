package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-13 after `umbra db restore` of a holder (restored40 item 4):
// this server (hub-b) holds, from its backup, the copy of x it relayed
// to hub-a in a shadow session; its replaced
// database took x over and handed it to hub-c, which delivers it. hub-a
// comes back with its own database and asks hub-b what became of its
// copies before its first delivery (TakenDoneFor). hub-b has not heard
// hub-c yet: it had nothing to tell, and hub-a delivered its original
// too (README). While the restored database waits for the transport
// servers' answers (RestoredAskPending) it lists each copy of the
// backup's it holds for the asking primary as in delivery ("<id> BUSY",
// TakenBusyFor): hub-a keeps its original back (takenbusy.go), and,
// once hub-c's TAKEN line settled the copy here, hears it RELAYED and
// sends nothing; without such a line hub-b lists it no more and hub-a
// delivers its original.
func TestSR6RestoredHolderKeepsThePrimarysOriginalBackUntilItHeard(t *testing.T) {
	for _, handed := range []bool{true, false} {
		name := "not handed on"
		if handed {
			name = "handed to hub-c"
		}
		t.Run(name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			// The restored holder, hub-b.
			var old *Message
			var sid string
			r := openRestored(t, func(s *Store) {
				old = msg(s, "a@example.org", "x@remote.example")
				sid = old.ID.String() + "-" + primaryHash("hub-a") + "-000000000001"
				shadowHeld(t, s, old, sid)
				if err := s.Update(t.Context(), func(tx *Tx) error { return tx.putPrimaryMark("hub-a", "dbA", 3) }); err != nil {
					t.Fatal(err)
				}
			})
			h := NewManager(r, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			if _, err := h.ShadowPresented("hub-a", "dbA", nil); err != nil {
				t.Fatal(err)
			}
			h.SetRestoredAskBound(time.Hour, []string{"hub-a", "hub-c"})

			// The primary, hub-a, back with its database: the original
			// of x names hub-b as the holder of its copy sid.
			s := openTest(t)
			var delivered atomic.Int32
			p, _ := startManager(t, s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
				var out []Result
				for _, i := range rcpts {
					delivered.Add(1)
					out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:remote.example", Reply: "250 ok"})
				}
				return out
			}), ManagerConfig{Clock: clk, Hostname: "hub-a", RetrySchedule: []time.Duration{time.Hour}})
			o := msg(s, "a@example.org", "x@remote.example")
			o.ShadowServer, o.ShadowID, o.Arrived = "hub-b", sid, clk.Now()
			o.State, o.NextAttempt = Ready, clk.Now().Add(time.Minute)
			putTest(t, s, o, []byte(body))

			// hub-a asks hub-b (its probe: notes, then BUSY lines).
			ask := func() {
				notes, ack := h.TakenDoneFor("dbA", 100)
				if ack != nil {
					ack()
				}
				var ids []string
				for _, n := range h.TakenBusyFor("dbA", 100) {
					ids = append(ids, n.ID)
				}
				if len(notes) > 0 {
					if _, _, err := p.ShadowFinishedElsewhere("hub-b", notes); err != nil {
						t.Fatal(err)
					}
				}
				if _, _, err := p.ShadowCopiesBusy("hub-b", ids, true, 10*time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			ask()
			clk.Advance(2 * time.Minute) // the original due
			p.Kick()
			waitFor(t, "hub-a's original delivered or kept back", func() bool {
				got, _ := p.Message(o.ID)
				return delivered.Load() > 0 || got != nil && got.NextAttempt.After(clk.Now())
			})
			if n := delivered.Load(); n != 0 {
				t.Fatalf("hub-a delivered its original (%d) before its restored holder hub-b heard which copies its replaced database handed on", n)
			}

			if handed {
				line := TakenDone{ID: old.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab", Addr: "x@remote.example", Kind: TakenOver}
				if fe, _, err := h.ShadowFinishedElsewhere("hub-c", []TakenDone{line}); err != nil || len(fe) != 1 {
					t.Fatalf("hub-c's line: %+v, %v", fe, err)
				}
			}
			h.RestoredAsked()
			ask() // hub-a's next probe of hub-b
			if handed {
				got, err := p.Message(o.ID)
				if err == nil && len(got.Pending()) > 0 {
					t.Fatalf("hub-a still holds x pending after hub-b said hub-c has it: %+v", got)
				}
				if n := delivered.Load(); n != 0 {
					t.Fatalf("hub-a delivered x (%d); hub-c delivers it", n)
				}
				return
			}
			p.Kick()
			waitFor(t, "hub-a's original delivered once hub-b heard every server", func() bool { return delivered.Load() == 1 })
		})
	}
}
