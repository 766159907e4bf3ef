package smtp

import (
	"slices"
	"strings"
	"testing"
)

// delayNoteShadow also keeps delay notes (DelayNoteDiscarder): a server
// with one offers version 17.
type delayNoteShadow struct {
	*heldNoteShadow
	delayed map[string][]string // server -> copy ids whose delay DSN went
	asked   int                 // calls of DiscardsDelayed
}

func (d *delayNoteShadow) DiscardsDelayed(server string, max int) ([]string, func()) {
	d.asked++
	lines, ack := d.DiscardsHandBack(server, max)
	for _, id := range d.delayed[server] {
		if len(lines) < max {
			lines = append(lines, id+" DELAYED")
		}
	}
	return lines, ack
}

// Version 17 (Q-3, SR-6; queue delaynote.go): "XQUERYDISCARD <max>
// PARTIAL TAKEOVER DELAYED" gets the delay notes; a query of 16 or below
// never does (an older holder keeps today's behaviour), DELAYED without
// PARTIAL TAKEOVER is a syntax error, and the client of 17 asks for them
// and reads the lines as they are (queue.DelayNoteSuffix).
func TestDelayNoteVerbs(t *testing.T) {
	sh := &delayNoteShadow{heldNoteShadow: &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{
		handBackShadow: &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{}}, dropped: map[string][]string{}}}}},
		delayed: map[string][]string{"hub2": {partialCopyID}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 18") { // 17 and after
		t.Fatalf("XSHADOW 18 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD 5 DELAYED", "501 5.5.4")
	d.cmd("XQUERYDISCARD 5 PARTIAL DELAYED", "501 5.5.4")
	for _, q := range []string{"XQUERYDISCARD 5 PARTIAL", "XQUERYDISCARD 5 PARTIAL TAKEOVER"} {
		if got := d.cmd(q, "250"); strings.Contains(got, "DELAYED") {
			t.Fatalf("%s got a delay note:\n%s", q, got)
		}
	}
	if got := d.cmd("XQUERYDISCARD 5 partial takeover delayed", "250"); !strings.Contains(got, "250 "+partialCopyID+" DELAYED") {
		t.Fatalf("reply:\n%s", got)
	}
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 18 {
		t.Fatalf("client speaks version %d, want 18", c.ShadowVersion)
	}
	sh.delayed["hub2"] = append(sh.delayed["hub2"], "bad id")
	ids, err := c.QueryDiscard(10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{partialCopyID + " DELAYED"}; !slices.Equal(ids, want) {
		t.Fatalf("client read %q, want %q", ids, want)
	}
}
