package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rr35 shadowdup (sibling of rt22a M1): the returning primary's original
// failed for good before it went away, and the failure DSN that carries
// its copy's discard waits to be sent. The shadow server took the copy
// over and has it in delivery when the primary asks (shadow verbs 21,
// "<org> BUSY"). ShadowFinishedElsewhere drops such a DSN once a note
// says the holder finished what it reports; ShadowCopiesBusy passes
// every record that carries another's copy over (carriesOthersCopy), so
// the DSN is not kept back: the primary sends it while the holder's
// attempt runs — a failure report for a message the holder then
// delivers, or a second one when it fails there too (README: "one
// failure report, and none for a recipient that was delivered").
func TestSRBusyKeepsBackDSNCarryingTheCopy(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	pS := openTest(t)
	var dsnOK atomic.Bool
	var dsnSent atomic.Int32
	dP := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
		var out []Result
		for _, i := range rc {
			if m.Connector == "dsn" {
				if dsnOK.Load() {
					dsnSent.Add(1)
					out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:example.org", Reply: "250 ok"})
					continue
				}
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:example.org", Reply: "451 4.7.1 greylisted"})
				continue
			}
			out = append(out, Result{Rcpt: i, Outcome: FailedPerm, Queue: "mx:x.example", Reply: "550 5.1.1 no such user"})
		}
		return out
	})
	qP := NewManager(pS, dP, ManagerConfig{Clock: clk, Hostname: "hub-c", RetrySchedule: []time.Duration{time.Hour}})
	o := msg(pS, "s@example.org", "f@x.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	runCtx, cancel := context.WithCancel(ctx)
	qP.Start(runCtx)
	if err := qP.Submit(ctx, o, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var dsnID ID
	waitFor(t, "the failure DSN carrying the copy's discard, deferred", func() bool {
		found := false
		pS.View(func(tx *Tx) error {
			tx.ForEach(func(m *Message, err error) bool {
				if err == nil && m.OwnDSN() && m.ShadowID == org && m.Attempts >= 1 && m.State == Ready {
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

	// hub-b answers: the copy is in delivery there.
	if _, _, err := qP.ShadowCopiesBusy("hub-b", []string{org}, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The DSN's retry comes (or the operator flushes) while hub-b's
	// attempt of the copy still runs.
	dsnOK.Store(true)
	clk.Advance(2 * time.Minute)
	if err := qP.RetryMessage(ctx, dsnID); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel = context.WithCancel(ctx)
	qP.Start(runCtx)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && dsnSent.Load() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	qP.Wait()
	if n := dsnSent.Load(); n != 0 {
		t.Fatalf("the failure DSN carrying the copy was sent %d times while hub-b had that copy in delivery: a failure report for a message hub-b may deliver, or a second one", n)
	}
}
