package smtp

import (
	"slices"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// busyShadow also tells the copies taken over here that are in delivery
// (version 21).
type busyShadow struct {
	*delayNoteShadow
	busy map[string][]string // database id -> copy ids in delivery
}

func (d *busyShadow) TakenBusyFor(dbID string, max int) []queue.TakenDone {
	var out []queue.TakenDone
	for _, id := range d.busy[dbID] {
		if len(out) < max {
			out = append(out, queue.TakenDone{ID: id, Kind: queue.TakenBusy})
		}
	}
	return out
}

// Version 21 (SR-6, SR-8; queue takenbusy.go): "XQUERYTAKENDONE <max>
// HELD BUSY" lists, after the notes, the copies taken over from the
// asking primary's database that are in delivery here ("<id> BUSY"); a
// query of 20 (HELD alone) hears none, and a server of 20 refuses BUSY
// as a syntax error — the client of 21 sends it only to a server that
// advertised 21, and reads the lines as notes of kind TakenBusy, which
// the server does not forget.
func TestQueryTakenDoneBusyVerb(t *testing.T) {
	const db = "0123456789abcdef0123456789abcdef"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{db: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}}}}}
	sh := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{db: {"c-3"}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 21") {
		t.Fatalf("XSHADOW 21 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+db, "250")
	d.cmd("XQUERYTAKENDONE 5 BUSY", "501 5.5.4")
	if got := d.cmd("XQUERYTAKENDONE 5 HELD", "250 a-1"); strings.Contains(got, "BUSY") {
		t.Fatalf("a query of 20 heard a copy in delivery:\n%s", got)
	}
	if got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY", "250 c-3"); !strings.HasSuffix(got, "\n250 c-3 BUSY") {
		t.Fatalf("reply with BUSY:\n%s", got)
	}
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	c.PresentDatabase(db)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != BusyVersion {
		t.Fatalf("client speaks version %d, want %d", c.ShadowVersion, BusyVersion)
	}
	for i := range 2 { // not forgotten: told again, at the next session, while the attempt runs
		if i > 0 { // within one session each is told once (rr35: the rounds of one probe page on)
			c = clientFor(t, s)
			c.PresentDatabase(db)
			if _, err := c.Shadow("hub2"); err != nil {
				t.Fatal(err)
			}
		}
		notes, err := c.QueryTakenDone(10, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(notes, queue.TakenDone{ID: "c-3", Kind: queue.TakenBusy}) {
			t.Fatalf("client of 21 read %+v: no copy in delivery", notes)
		}
	}

	// A server of 20 refuses BUSY; the client of 21 does not send it there.
	s20 := startShadowServer(t, &markQueue{mark: 1}, sh.delayNoteShadow, true, transportConnector(t, ""))
	d = dial(t, s20, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 20") {
		t.Fatalf("XSHADOW 20 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+db, "250")
	d.cmd("XQUERYTAKENDONE 5 HELD BUSY", "501 5.5.4")
	d.cmd("QUIT", "221")
	c = clientFor(t, s20)
	c.PresentDatabase(db)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryTakenDone(10, ""); err != nil || c.ShadowVersion != NameVersion {
		t.Fatalf("client against a server of 20: version %d, %v", c.ShadowVersion, err)
	}
}

// commitBetweenShadow is a busyShadow whose attempt of the copy "c-3"
// commits right after the first read of a question (notes or copies in
// delivery): the copy leaves the list of those in delivery and its notes
// are there, as the queue's commit of the attempt's results does in
// between two reads of one answer.
type commitBetweenShadow struct {
	*busyShadow
	db        string
	committed bool
}

func (d *commitBetweenShadow) commit() {
	if d.committed {
		return
	}
	d.committed = true
	d.mu.Lock()
	d.notes[d.db] = append(d.notes[d.db], queue.TakenDone{ID: "c-3", Addr: "y@remote.example", Kind: queue.TakenDelivered})
	d.mu.Unlock()
	d.busy[d.db] = nil
}

func (d *commitBetweenShadow) TakenDoneHeldFor(dbID string, max int) ([]queue.TakenDone, func()) {
	defer d.commit()
	return d.busyShadow.TakenDoneHeldFor(dbID, max)
}

func (d *commitBetweenShadow) TakenBusyFor(dbID string, max int) []queue.TakenDone {
	defer d.commit()
	return d.busyShadow.TakenBusyFor(dbID, max)
}

// rt42-shadowrcpt F1 (SR-6, SR-8): one answer to XQUERYTAKENDONE … BUSY
// reads the notes and the copies in delivery apart, and the commit of a
// taken-over copy's delivery may land between the two reads. Read notes
// first, the copy was in delivery then (no note yet) and committed by
// the time the copies in delivery were read (no BUSY line): the answer
// said neither, and the returning primary released its original and
// delivered it again. The copies in delivery are read first: a copy is
// then told BUSY, or its note is read after its commit — never neither.
func TestQueryTakenDoneBusyNeverNeitherAcrossACommit(t *testing.T) {
	const db = "0123456789abcdef0123456789abcdef"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{db: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}}}}}
	sh := &commitBetweenShadow{busyShadow: &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}},
		busy: map[string][]string{db: {"c-3"}}}, db: db}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	c := clientFor(t, s)
	c.PresentDatabase(db)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	notes, err := c.QueryTakenDone(10, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(notes, func(n queue.TakenDone) bool { return n.ID == "c-3" }) {
		t.Fatalf("the answer %+v says nothing of c-3, committed between its reads: the primary would deliver its original again", notes)
	}
}
