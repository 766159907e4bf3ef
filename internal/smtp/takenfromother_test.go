package smtp

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rrhanded38 (SR-3, SR-7; rt17e-F1): FROM= names the database the
// asking primary's own was restored from. A FROM= naming a database this
// server knows as another primary's (hub3's, live) must not hear that
// primary's TAKEN lines (its handed recipients, handed38; its waiting
// copies), its BUSY lines, nor take its notes: told here they would be
// forgotten (the ack), and hub3, asking later, would deliver again. The
// session's own database is answered as before; a FROM= of the
// session's own server (a restore) still is.
func TestQueryTakenDoneFromAnotherPrimarysDatabase(t *testing.T) {
	const ownDB, hub3DB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{hub3DB: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}}}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{hub3DB: {"c-3"}}}
	sh := &handedShadow{takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{hub3DB: {{ID: "d-4", Addr: "w@remote.example", Kind: queue.TakenOver}}}},
		handed: map[string][]queue.TakenDone{hub3DB: {{ID: "b-2", Addr: "y@remote.example", Kind: queue.TakenOver}}}}
	q := &ownersQueue{markQueue: markQueue{mark: 1}, owners: map[string]string{hub3DB: "hub3"}}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+ownDB, "250")
	got := d.cmd("XQUERYTAKENDONE 10 HELD BUSY FROM="+hub3DB, "250")
	for _, w := range []string{"a-1", "b-2", "c-3", "d-4"} {
		if strings.Contains(got, w) {
			t.Fatalf("hub2 heard %s of hub3's database:\n%s", w, got)
		}
	}
	d.cmd("NOOP", "250")
	d.cmd("QUIT", "221")
	if len(held.notes[hub3DB]) != 1 {
		t.Fatalf("hub3's notes after hub2's question: %+v, want kept", held.notes[hub3DB])
	}
}
