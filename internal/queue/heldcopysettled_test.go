package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// SR-4, the sibling the queuefix34 lane left (copySettled,
// takensingle.go). A copy taken over from hub-a, its copy made again on
// hub-c while an attempt ran (heldPrefix: hub-c holds it under the org
// id; the record names it at the next listing of the marks). That
// attempt failed x@ for good with y@ still pending: its failure DSN is
// queued here, and reports x@ of hub-c's copy (results.go names the held
// holder). Before the marks are listed, hub-a's partial discard settles
// y@, the last pending recipient. copySettled read the held mark as "no
// copy covers anything": hub-c got its full discard at once while the
// failure DSN, carrying none, still sat on this disk alone — what
// finish now closes for the attempt's own commit.
func TestSR4CopySettledHeldCopyCoversEarlyDSN(t *testing.T) {
	q, s, clk := idleManager(t)
	m := takenReceiptCopies(t, q, s, clk, 1, "x@b.example", "y@c.example")[0]
	if sc, ok := q.SingleCopyOf(m.ID); !ok || !sc.TakenOver {
		t.Fatalf("taken over: mark %+v, %v", sc, ok)
	}
	var dsn *Message
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.addHeld(m.ID, "hub-c"); err != nil { // made again on hub-c in delivery
			return err
		}
		om, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		om.Rcpts[0].Status = Failed
		if err := tx.Put(om); err != nil {
			return err
		}
		dsn = &Message{ID: s.NewID(clk.Now()), State: Ready, NextAttempt: clk.Now().Add(time.Hour), Connector: "dsn", Internal: true,
			ReportOn: m.ID, Rcpts: []Recipient{{Addr: "a@example.org", Notify: NotifyNever}}}
		if err := tx.PutNew(dsn, []byte(body)); err != nil {
			return err
		}
		return tx.noteReported(dsn.ID, m.ID, m.OrgID, "hub-c", m.OrgID, []string{"x@b.example"})
	}); err != nil {
		t.Fatal(err)
	}
	if h := heldOf(t, s, m.ID); h != "hub-c" {
		t.Fatalf("held holder %q; want hub-c", h)
	}
	if _, err := q.ApplyDiscards("hub-a", []string{m.OrgID + PartialDiscardSep + "y@c.example"}); err != nil {
		t.Fatal(err)
	}
	d, err := q.Message(dsn.ID)
	if err != nil || len(d.Pending()) == 0 {
		t.Fatalf("the failure DSN: %+v, %v; want it still queued", d, err)
	}
	lines := owed(q)
	if slices.Contains(lines, m.OrgID) && d.ShadowServer == "" {
		t.Fatalf("hub-c is owed the full discard %q while the failure DSN %s for x@ (carrying none) is still queued here on one disk", lines, d.ID)
	}
	if !sameServer(d.ShadowServer, "hub-c") || d.ShadowID != m.OrgID {
		t.Errorf("the failure DSN carries %q/%q; want hub-c's copy %s", d.ShadowServer, d.ShadowID, m.OrgID)
	}
	if !slices.Contains(lines, m.OrgID+PartialDiscardSep+"y@c.example") {
		t.Errorf("owed to hub-c %q; want y@'s partial discard", lines)
	}
}

func heldOf(t *testing.T, s *Store, id ID) string {
	t.Helper()
	var h string
	if err := s.View(func(tx *Tx) error { h = tx.heldCopy(id); return nil }); err != nil {
		t.Fatal(err)
	}
	return h
}
