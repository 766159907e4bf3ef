package queue

import (
	"testing"
	"time"
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
	f := earlyFailureDSN(t, time.Minute, "f@x.example")
	qP, clk, o, dsnID, org := f.q, f.clk, f.orig, f.dsn, f.org
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
