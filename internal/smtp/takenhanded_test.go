package smtp

import (
	"slices"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// handedShadow also tells the recipients of copies taken over here and
// handed on to another transport server that still holds them
// (queue.Manager.TakenHandedFor).
type handedShadow struct {
	*takenOverShadow
	handed map[string][]queue.TakenDone // database id -> recipients handed on
}

func (d *handedShadow) TakenHandedFor(dbID string, max int) []queue.TakenDone {
	h := d.handed[dbID]
	return h[:min(max, len(h))]
}

// handed38 (SR-6, SR-7; queue takenhanded.go): a primary back with the
// database it had asks "XQUERYTAKENDONE <max> HELD BUSY" (no FROM=): the
// reply lists, after its notes and BUSY lines, a line per recipient of
// its copies taken over here and handed on in a shadow session that the
// next server still holds, "<id> RCPT=<address> TAKEN" — each once per
// session, so that rounds end; a query without BUSY (a primary of 20 or
// below) hears none. The client of 22 reads them as notes of kind
// TakenOver; one of 21 passes them over (after its BUSY lines: it misses
// none of those).
func TestQueryTakenDoneListsHandedCopies(t *testing.T) {
	const db = "0123456789abcdef0123456789abcdef"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{db: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}}}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{db: {"c-3"}}}
	sh := &handedShadow{takenOverShadow: &takenOverShadow{busyShadow: busy}, handed: map[string][]queue.TakenDone{db: {
		{ID: "b-2", Addr: "y@remote.example", Kind: queue.TakenOver}, {ID: "b-2", Addr: "z@remote.example", Kind: queue.TakenOver}}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+db, "250")
	if got := d.cmd("XQUERYTAKENDONE 5 HELD", "250"); strings.Contains(got, "TAKEN") {
		t.Fatalf("a query without BUSY heard TAKEN lines:\n%s", got)
	}
	got := d.cmd("XQUERYTAKENDONE 2 HELD BUSY", "250")
	if !strings.Contains(got, "\n250-c-3 BUSY\n250 b-2 RCPT=y@remote.example TAKEN") {
		t.Fatalf("reply (the BUSY line first, then the handed recipients within max):\n%s", got)
	}
	got = d.cmd("XQUERYTAKENDONE 2 HELD BUSY", "250")
	if !strings.HasSuffix(got, "\n250 b-2 RCPT=z@remote.example TAKEN") || strings.Contains(got, "y@remote.example") || strings.Contains(got, "BUSY") {
		t.Fatalf("next round (the lines told once per session):\n%s", got)
	}
	if again := d.cmd("XQUERYTAKENDONE 3 HELD BUSY", "250"); strings.Contains(again, "TAKEN") {
		t.Fatalf("a TAKEN line told twice in one session:\n%s", again)
	}
	d.cmd("QUIT", "221")

	// A restored primary (FROM=) also hears the handed recipients of
	// the database it was restored from.
	const newDB = "fedcba9876543210fedcba9876543210"
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+newDB, "250")
	if got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+db, "250"); !strings.Contains(got, "b-2 RCPT=y@remote.example TAKEN") || !strings.Contains(got, "b-2 RCPT=z@remote.example TAKEN") {
		t.Fatalf("FROM= the database the handed copies were taken over under:\n%s", got)
	}
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	c.PresentDatabase(db)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	notes, err := c.QueryTakenDone(10, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(notes, queue.TakenDone{ID: "b-2", Addr: "z@remote.example", Kind: queue.TakenOver}) {
		t.Fatalf("client of 22 read %+v: no TAKEN line", notes)
	}
}

// The queue tells the handed copies: the server lists them.
var _ HandedTeller = (*queue.Manager)(nil)
