package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-11 (sibling of shadowrt35 F1 and rr35's busy keep-back): the
// primary failed f@ for good while p@ stayed pending, so the failure DSN
// carries no discard; its dsnreported entry names the copy on hub-b.
// hub-b took the copy over and has it in delivery when the primary
// returns and asks ("<org> BUSY"). ShadowCopiesBusy keeps back the
// original and a DSN that carries the copy's discard, but not this DSN:
// the primary sends it while hub-b's attempt runs, then hub-b fails f@
// again and reports it — two failure DSNs for f@, which the note that
// ShadowFinishedElsewhere (F1) waits for would have prevented.
func TestSRBusyKeepsBackReportedDSN(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	dP := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if m.Connector == "dsn" || m.Rcpts[i].Addr == "p@x.example" {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:x.example", Reply: "451 4.7.1 greylisted"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Queue: "mx:x.example", Reply: "550 5.1.1 no such user"})
		}
		return out
	})
	qP := NewManager(pS, dP, ManagerConfig{Clock: clk, Hostname: "hub-a", RetrySchedule: []time.Duration{time.Minute}})
	o := msg(pS, "s@example.org", "f@x.example", "p@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	runCtx, cancel := context.WithCancel(ctx)
	qP.Start(runCtx)
	if err := qP.Submit(ctx, o, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsnID ID
	waitFor(t, "the failure DSN made while p@ is pending, deferred", func() bool {
		found := false
		pS.View(func(tx *Tx) error {
			tx.ForEach(func(m *Message, err error) bool {
				if err == nil && m.OwnDSN() && m.Attempts >= 1 && m.State == Ready {
					dsnID, found = m.ID, true
				}
				return true
			})
			return nil
		})
		return found
	})
	cancel()
	qP.Wait()
	hold := 10 * time.Minute
	kept, _, err := qP.ShadowCopiesBusy("hub-b", []string{org}, true, hold)
	if err != nil {
		t.Fatal(err)
	}
	keptOrig := false
	for _, m := range kept {
		if m.ID == o.ID {
			keptOrig = true
		}
	}
	if !keptOrig {
		t.Fatalf("fixture: the original was not kept back (%d kept)", len(kept))
	}
	m, err := qP.Message(dsnID)
	if err != nil {
		t.Fatal(err)
	}
	if m.NextAttempt.Before(clk.Now().Add(hold)) {
		t.Fatalf("the failure DSN whose dsnreported entry names hub-b's copy in delivery there is due at %v, before the hold ends (%v): sent while hub-b's attempt may fail f@ again and report it — two failure DSNs",
			m.NextAttempt, clk.Now().Add(hold))
	}
}
