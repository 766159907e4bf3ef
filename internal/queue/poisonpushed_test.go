package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-13, SR-17, Q-2: a message whose push on receipt to hub-b got no
// reply names no shadow copy, yet hub-b may hold one (shadow single:
// "also pushed, unconfirmed"), and takes it over at its expiry. A
// suspend writes hub-b the discard of that copy (settleMarkHolders); the
// commit that moves the message to the poison queue — a hold the
// operator sees — must too, or hub-b delivers it behind the verdict.
func TestQ2PoisonSettlesAnUnconfirmedPush(t *testing.T) {
	for _, how := range []string{"suspend", "poison"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
			s := openTest(t)
			q := NewManager(s, nil, ManagerConfig{Clock: clk, Hostname: "hub-p"})
			m := receiptCopy(s, "x@a.example")
			m.Arrived = clk.Now()
			q.draining.Store(true) // stored Ready: no attempt of this run holds it (poisonWithCopy)
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			q.draining.Store(false)
			if err := q.MarkSingleCopy(m.ID, "hub-b", ""); err != nil { // no reply: hub-b may hold it
				t.Fatal(err)
			}
			switch how {
			case "suspend":
				if err := s.Update(ctx, func(tx *Tx) error {
					got, err := tx.Get(m.ID)
					if err != nil {
						return err
					}
					got.State = Ready // waiting for its retry
					return tx.Put(got)
				}); err != nil {
					t.Fatal(err)
				}
				if err := q.SuspendMessage(ctx, m.ID); err != nil {
					t.Fatal(err)
				}
			case "poison":
				if err := s.Update(ctx, func(tx *Tx) error {
					got, err := tx.Get(m.ID)
					if err != nil {
						return err
					}
					got.State, got.CrashCount = Active, 5
					return tx.Put(got)
				}); err != nil {
					t.Fatal(err)
				}
				if _, poisoned, err := q.Recover(ctx); err != nil || poisoned != 1 {
					t.Fatalf("Recover: %d poisoned, %v", poisoned, err)
				}
			}
			lines, _ := q.DiscardsPartial("hub-b", 100)
			if !slicesContainsOrg(lines, m.OrgID) {
				t.Fatalf("after the %s, hub-b is owed %q: no discard of the copy it may hold of %s (org id %s); it takes it over at its expiry", how, lines, m.ID, m.OrgID)
			}
			got, err := q.Message(m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if needsCopyMarked(got) {
				t.Errorf("%s: a copy of %s is made again while it is held", how, m.ID)
			}
			if err := q.ResumeMessage(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			scs, err := q.SingleCopies()
			if err != nil {
				t.Fatal(err)
			}
			marked := false
			for _, sc := range scs {
				marked = marked || sc.ID == m.ID
			}
			if !marked {
				t.Errorf("%s: the resumed message is not marked held by this server only: its copy is not made again (%+v)", how, scs)
			}
		})
	}
}

func slicesContainsOrg(lines []string, org string) bool {
	for _, l := range lines {
		if strings.Contains(l, org) {
			return true
		}
	}
	return false
}
