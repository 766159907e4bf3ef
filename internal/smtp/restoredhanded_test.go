package smtp

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// handedHereShadow also lists the copies the asking server handed here
// (queue.Manager.HandedHereBy), a page of one line at most per call.
type handedHereShadow struct {
	*takenOverShadow
	handed []queue.TakenDone
	by     []string // the server of each call
}

func (d *handedHereShadow) HandedHereBy(server, after string, max int) ([]queue.TakenDone, string) {
	d.by = append(d.by, server)
	i := 0
	if after != "" {
		i = int(after[0]-'0') + 1
	}
	if i >= len(d.handed) || max <= 0 {
		return nil, ""
	}
	next := ""
	if i+1 < len(d.handed) {
		next = string(rune('0' + i))
	}
	return d.handed[i : i+1], next
}

// SR-6 after `umbra db restore` of a holder (queue restoredhanded.go):
// "XQUERYTAKENDONE <max> HELD BUSY FROM=<old id>" also lists, after every
// other line, "<copy id> RCPT=<address> TAKEN" for each recipient of the
// copies the session's server handed here that this server holds or
// finished — page by page, each once per session, asked for the
// session's authenticated server; a query without FROM= (a database never
// restored) hears none of them.
func TestQueryTakenDoneListsCopiesARestoredServerHandedHere(t *testing.T) {
	const newDB, oldDB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{}}
	sh := &handedHereShadow{
		takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{oldDB: {{ID: "b-2", Addr: "y@remote.example", Kind: queue.TakenOver}}}},
		handed: []queue.TakenDone{
			{ID: "000661F40795F8E2-6e841936-000000000001", Addr: "x@remote.example", Kind: queue.TakenOver},
			{ID: "000661F40795F8E3-6e841936-000000000002", Addr: "z@remote.example", Kind: queue.TakenOver},
		},
	}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+newDB, "250")
	if got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY", "250"); strings.Contains(got, "TAKEN") || len(sh.by) != 0 {
		t.Fatalf("a query without FROM= told handed copies (%q):\n%s", sh.by, got)
	}
	var all string
	for range 4 {
		all += d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250") + "\n"
	}
	for _, want := range []string{"b-2 RCPT=y@remote.example TAKEN", sh.handed[0].Wire(), sh.handed[1].Wire()} {
		if n := strings.Count(all, want); n != 1 {
			t.Fatalf("%q told %d times in one session, want once:\n%s", want, n, all)
		}
	}
	if first := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250"); strings.Contains(first, "TAKEN") {
		t.Fatalf("told again after every page:\n%s", first)
	}
	for _, by := range sh.by {
		if by != "hub2" {
			t.Fatalf("asked for %q, want the session's server hub2", sh.by)
		}
	}
	d.cmd("QUIT", "221")
	d.closed()

	// Told whole and acknowledged (the client spoke again): a later
	// session of that client is not walked for again.
	calls := len(sh.by)
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+newDB, "250")
	if got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250"); strings.Contains(got, sh.handed[0].ID) || len(sh.by) != calls {
		t.Fatalf("walked again for a client told whole (%d calls, was %d):\n%s", len(sh.by), calls, got)
	}
	d.cmd("QUIT", "221")
	d.closed()

	// A client that ends the session without a word after the last page
	// (it could not record it) hears it again in its next session.
	sh2 := &handedHereShadow{takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{}},
		handed: sh.handed[:1]}
	s2 := startShadowServer(t, &markQueue{mark: 1}, sh2, true, transportConnector(t, ""))
	for i := range 2 {
		d = dial(t, s2, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2 MARK DB="+newDB, "250")
		if got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250"); !strings.Contains(got, sh.handed[0].Wire()) {
			t.Fatalf("session %d: the handed copy not told:\n%s", i, got)
		}
		d.conn.Close()
	}
}

// SR-6 after a second `umbra db restore` of a holder from a backup of the
// same database (restoredhanded.go): both restored databases ask with
// the same FROM= (the id the backups were taken of). A client told every
// copy it handed here under one new database is not walked for again
// while this server runs — but a client presenting another database
// (restored again: it holds the copies for other primaries again, as the
// backup had them) must hear every line again, or it takes the copies
// this server owns over a second time and both deliver them.
func TestQueryTakenDoneTellsHandedCopiesToEveryRestoredDatabase(t *testing.T) {
	const firstDB, secondDB, oldDB = "0123456789abcdef0123456789abcdef", "1123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{}}
	sh := &handedHereShadow{
		takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{}},
		handed:          []queue.TakenDone{{ID: "000661F40795F8E2-6e841936-000000000001", Addr: "x@remote.example", Kind: queue.TakenOver}},
	}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	for i, db := range []string{firstDB, firstDB, secondDB} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2 MARK DB="+db, "250")
		got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250")
		told := strings.Contains(got, sh.handed[0].Wire())
		if want := i != 1; told != want {
			t.Fatalf("session %d (database %s): handed copy told %v, want %v:\n%s", i, db, told, want, got)
		}
		d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250") // spoke again: recorded
		d.cmd("QUIT", "221")
		d.closed()
	}
}

// SR-6 after `umbra db restore` of a holder (rrrestored40): the client
// reads a reply of fewer than max lines as the end of the answer
// (Client.QueryTakenDone's caller stops there, and a restored database
// then keeps the server as answered for good, queue
// RestoredAnsweredBy). A page of the handed copies shorter than the room
// left (queue HandedHereBy keeps a record's recipients whole, so it may
// stop short) must not end a reply while more copies follow: the reply
// is filled, so that a short one is the end.
func TestSR6QueryTakenDoneShortReplyIsTheEndOfTheHandedCopies(t *testing.T) {
	const newDB, oldDB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{}}
	sh := &handedHereShadow{
		takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{}},
		handed: []queue.TakenDone{
			{ID: "000661F40795F8E2-6e841936-000000000001", Addr: "x@remote.example", Kind: queue.TakenOver},
			{ID: "000661F40795F8E3-6e841936-000000000002", Addr: "z@remote.example", Kind: queue.TakenOver},
			{ID: "000661F40795F8E4-6e841936-000000000003", Addr: "w@remote.example", Kind: queue.TakenOver},
		},
	}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+newDB, "250")
	const max = 5
	var all string
	for range 4 {
		got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250")
		all += got + "\n"
		if n := strings.Count(got, " TAKEN"); n < max {
			break // the client's reading: fewer than max lines is the end
		}
	}
	for _, h := range sh.handed {
		if !strings.Contains(all, h.Wire()) {
			t.Fatalf("%q not told before a reply of fewer than %d lines ended the answer:\n%s", h.Wire(), max, all)
		}
	}
	d.cmd("QUIT", "221")
	d.closed()
}
