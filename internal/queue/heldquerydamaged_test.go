package queue

import (
	"bytes"
	"context"
	"slices"
	"testing"
)

// A record set aside as damaged may be the one that still needs a
// shadow copy: XQUERYHELD must not answer "done" for the copy it names
// (head readable), nor for any copy while a record whose head cannot be
// read is set aside — the shadow server would drop the only sound copy
// (rt49 F1: the holder dropped it after a restore asked at once).
func TestShadowHeldKeepsCopiesOfDamagedRecords(t *testing.T) {
	p, _, _, _, _, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var recs []*Message
	for _, pm := range messages(t, p.s) {
		if pm.ShadowServer == "hub-a" && pm.ShadowID != "" {
			recs = append(recs, pm)
		}
	}
	if len(recs) == 0 {
		t.Fatal("hub-b holds no record with a copy on hub-a")
	}
	rec := recs[0]
	setAside := func(head bool) {
		t.Helper()
		if err := p.s.Update(context.Background(), func(tx *Tx) error {
			raw := tx.RawRecord(rec.ID)
			if head {
				copy(raw[1:], bytes.Repeat([]byte{0xff}, 20)) // the head too
			} else {
				raw = raw[:len(raw)-3] // the recipients cut short
			}
			if err := tx.messages.Put(rec.ID.Key(), raw); err != nil {
				return err
			}
			_, err := tx.setAsideOne(rec.ID, p.clk.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	setAside(false)
	done, err := p.q.ShadowHeld("hub-a", []string{rec.ShadowID, "000000000000DEAD"})
	if err != nil || slices.Contains(done, rec.ShadowID) || !slices.Contains(done, "000000000000DEAD") {
		t.Fatalf("head readable: done %q %v; want the damaged record's copy held, the unknown id done", done, err)
	}
	// The head unreadable too: which copy it needs is unknown, so no
	// copy of this shadow server is answered done.
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		return tx.tx.Bucket(bucketDamaged).Delete(rec.ID.Key())
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Update(context.Background(), func(tx *Tx) error {
		raw := append([]byte{recordVersion}, bytes.Repeat([]byte{0xff}, 40)...)
		return tx.tx.Bucket(bucketDamaged).Put(rec.ID.Key(), raw)
	}); err != nil {
		t.Fatal(err)
	}
	done, err = p.q.ShadowHeld("hub-a", []string{rec.ShadowID, "000000000000DEAD"})
	if err != nil || len(done) != 0 {
		t.Fatalf("head unreadable: done %q %v; want none", done, err)
	}
}
