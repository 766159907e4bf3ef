package smtp

import (
	"slices"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// takenOverShadow also tells the copies taken over here from a restored
// primary's old database that wait (version 22).
type takenOverShadow struct {
	*busyShadow
	waiting map[string][]queue.TakenDone // old database id -> recipients waiting here
	asked   []string                     // "primary presented from" of each question
}

func (d *takenOverShadow) TakenOverFor(primary, presented, from string, max int) []queue.TakenDone {
	d.asked = append(d.asked, primary+" "+presented+" "+from)
	w := d.waiting[from]
	return w[:min(max, len(w))]
}

// Version 22 (SR-7 after a db restore; queue takenover.go):
// "XQUERYTAKENDONE <max> HELD BUSY FROM=<old id>" also lists the old
// database's notes and, per recipient of a copy taken over from it that
// waits here, "<id> RCPT=<address> TAKEN" — each once per session; a
// FROM= naming the session's own database adds nothing. The client of 22
// sends FROM= only when it has a predecessor, and reads TAKEN lines as
// notes of kind TakenOver.
func TestQueryTakenDoneFromRestoredDatabase(t *testing.T) {
	const newDB, oldDB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{oldDB: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}}}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{}}
	sh := &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{oldDB: {{ID: "b-2", Addr: "y@remote.example", Kind: queue.TakenOver}}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 22") {
		t.Fatalf("XSHADOW 22 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB="+newDB, "250")
	d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM=not/an-id", "501 5.5.4")
	if got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+newDB, "250"); strings.Contains(got, "TAKEN") {
		t.Fatalf("FROM= naming the session's own database told copies:\n%s", got)
	}
	got := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250")
	if !strings.Contains(got, "\n250-a-1 RCPT=x@remote.example DELIVERED") || !strings.HasSuffix(got, "\n250 b-2 RCPT=y@remote.example TAKEN") {
		t.Fatalf("reply:\n%s", got)
	}
	if len(sh.asked) != 1 || sh.asked[0] != "hub2 "+newDB+" "+oldDB {
		t.Fatalf("asked %q", sh.asked)
	}
	if again := d.cmd("XQUERYTAKENDONE 5 HELD BUSY FROM="+oldDB, "250"); strings.Contains(again, "TAKEN") {
		t.Fatalf("a TAKEN line told twice in one session:\n%s", again)
	}
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	c.PresentDatabase(newDB)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != TakenOverVersion {
		t.Fatalf("client speaks version %d, want %d", c.ShadowVersion, TakenOverVersion)
	}
	notes, err := c.QueryTakenDone(10, oldDB)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(notes, queue.TakenDone{ID: "b-2", Addr: "y@remote.example", Kind: queue.TakenOver}) {
		t.Fatalf("client of 22 read %+v: no TAKEN line", notes)
	}
}
