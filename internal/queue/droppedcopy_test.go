package queue

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// An operator's forced removal of a shadow copy is told to its primary:
// the removal's commit notes the copy for hub-b; hub-b, told, marks its
// message held by it only (the re-make pass makes the copy again); the
// note stays until the acknowledgement, and no other primary is told.
func TestForcedCopyRemovalToldToPrimary(t *testing.T) {
	p, qS, _, _, m, stopS, stopP := partialSetup2(t)
	defer stopP()
	stopS()
	var orig *Message
	for _, pm := range messages(t, p.s) {
		if slices.ContainsFunc(pm.Rcpts, func(r Recipient) bool { return r.Addr == "b@c.example" && r.Status == Pending }) {
			orig = pm
		}
	}
	if orig == nil || orig.ShadowServer != "hub-a" {
		t.Fatalf("hub-b holds no record with b@ pending copied on hub-a: %+v", orig)
	}
	if _, ok := p.q.SingleCopyOf(orig.ID); ok {
		t.Fatal("marked single-copy before anything was removed")
	}
	if ids, _ := qS.DroppedCopies("hub-b", "", 100); len(ids) != 0 {
		t.Fatalf("dropped copies before any removal: %q", ids)
	}
	if err := qS.RemoveMessageForce(context.Background(), m.ID, false); err != nil {
		t.Fatal(err)
	}
	ids, ack := qS.DroppedCopies("HUB-B", "", 100) // the session's name, whatever its case
	if !slices.Contains(ids, orig.ShadowID) {
		t.Fatalf("hub-b is told %q, want %q among them", ids, orig.ShadowID)
	}
	if other, _ := qS.DroppedCopies("hub-c", "", 100); len(other) != 0 {
		t.Fatalf("hub-c is told of hub-b's copies: %q", other)
	}
	n, err := p.q.ShadowCopiesDropped("hub-a", ids)
	if err != nil || n != 1 {
		t.Fatalf("marked %d, %v; want 1", n, err)
	}
	sc, ok := p.q.SingleCopyOf(orig.ID)
	if !ok || sc.Lost != "hub-a" {
		t.Fatalf("hub-b's message not marked held by it only: %+v %v", sc, ok)
	}
	// show says what happened to the copy: removed, not lost (drop12).
	if txt := sc.String(); !strings.Contains(txt, "removed by the administrator of hub-a") || strings.Contains(txt, "was lost") {
		t.Errorf("the mark reads %q; want the copy named removed by hub-a's administrator", txt)
	}
	if n, err := p.q.ShadowCopiesDropped("hub-a", ids); err != nil || n != 0 {
		t.Fatalf("told twice (a crash before the acknowledgement): marked %d, %v; want 0", n, err)
	}
	if again, _ := qS.DroppedCopies("hub-b", "", 100); !slices.Equal(again, ids) {
		t.Fatalf("the note went before the acknowledgement: %q", again)
	}
	ack()
	if again, _ := qS.DroppedCopies("hub-b", "", 100); len(again) != 0 {
		t.Fatalf("the note stays after the acknowledgement: %q", again)
	}
}
