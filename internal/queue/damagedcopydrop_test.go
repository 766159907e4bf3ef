package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// A shadow copy set aside as damaged on its holder is a copy the
// primary counts on and no longer has: the holder notes it for the
// primary as an operator's removal is noted (XQUERYDROPPED), as "every
// copy" since the damaged record cannot say which, and the primary
// marks its messages held there as held by it alone, so it copies them
// again (rt49 F2, rt52: the primary's disk loss then lost 4 of 4).
func TestDamagedCopyToldToItsPrimary(t *testing.T) {
	p, qS, sS, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	if err := sS.Update(context.Background(), func(tx *Tx) error {
		raw := tx.RawRecord(m.ID)
		if err := tx.messages.Put(m.ID.Key(), raw[:len(raw)-3]); err != nil {
			return err
		}
		_, err := tx.setAsideOne(m.ID, p.clk.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ids, ack := qS.DroppedCopies("hub-b", "", 100)
	if !slices.Equal(ids, []string{DroppedEvery}) {
		t.Fatalf("dropped copies told to hub-b: %q, want %q", ids, DroppedEvery)
	}
	n, err := p.q.ShadowCopiesDropped("hub-a", ids)
	if err != nil || n == 0 {
		t.Fatalf("the primary marked %d messages single-copy: %v", n, err)
	}
	// show says what happened to the copy: damaged there, not lost.
	for _, pm := range messages(t, p.s) {
		if sc, ok := p.q.SingleCopyOf(pm.ID); ok && (!strings.Contains(sc.String(), "damaged") || strings.Contains(sc.String(), "was lost")) {
			t.Errorf("the mark of %s reads %q; want the copy named damaged on hub-a", pm.ID, sc.String())
		}
	}
	ack()
	if ids, _ := qS.DroppedCopies("hub-b", "", 100); len(ids) != 0 {
		t.Errorf("told again after the acknowledgement: %q", ids)
	}
}

// On the holder, the damaged record of a shadow copy says whose copy it
// was (its shadow:PRIMARY index named the primary before it went): show
// names the primary, and the removal takes that note with the record
// (rt54 L2: show said neither that it was a copy nor whose).
func TestDamagedCopyNamesItsPrimary(t *testing.T) {
	p, qS, sS, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	defer stopS()
	if err := sS.Update(context.Background(), func(tx *Tx) error {
		raw := tx.RawRecord(m.ID)
		if err := tx.messages.Put(m.ID.Key(), raw[:len(raw)-3]); err != nil {
			return err
		}
		d, err := tx.setAsideOne(m.ID, p.clk.Now())
		if err == nil && !strings.Contains(d.LogText(), "shadow copy of a message of hub-b") {
			t.Errorf("the line logged: %q; want it named a shadow copy of hub-b's message", d.LogText())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, err := qS.Message(m.ID)
	if err != nil || got.State != Damaged || got.DamagedCopyOf != "hub-b" {
		t.Fatalf("the damaged copy as shown: %+v, %v; want state damaged, a copy of hub-b's message", got, err)
	}
	if err := qS.RemoveMessage(context.Background(), m.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := sS.View(func(tx *Tx) error {
		return tx.tx.Bucket(bucketDamaged).ForEach(func(k, _ []byte) error {
			t.Errorf("left in the damaged bucket after the removal: %q", k)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}
