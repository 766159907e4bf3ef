package smtp

import (
	"errors"
	"slices"
	"strconv"
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
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW "+strconv.Itoa(NameVersion)) { // 19 and after (a queue without BusyTeller: 20)
		t.Fatalf("XSHADOW %d not advertised (17's delay notes, 19's pushed ones):\n%s", NameVersion, ehlo)
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
	if c.ShadowVersion < PushDelayedVersion {
		t.Fatalf("client speaks version %d, want %d or after", c.ShadowVersion, PushDelayedVersion)
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

// Version 19 (Q-3, SR-6, SR-15; queue delaynote.go): XDISCARD carries
// delay notes, "<id> DELAYED", alone or among other notifications (the
// DELAYED word goes with the id before it), handed to the queue as it
// reads a fetched one; the client pushes a delay note only to a server
// of 19 — to an older one, 18 (CODES) included, "<id> DELAYED" would
// read as two full discards, one of them of the copy — and starts a new
// command with a copy whose id reads DELAYED, never taken for a note.
func TestPushDelayNoteVerb(t *testing.T) {
	sh := &delayNoteShadow{heldNoteShadow: &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{
		handBackShadow: &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{}}, dropped: map[string][]string{}}}}},
		delayed: map[string][]string{}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XDISCARD a-1 DELAYED", "250 2.0.0 Delay note applied")
	d.cmd("XDISCARD b-2 delayed c-3 RCPT=bob+40example.test d-4", "250 2.0.0 3 discards applied")
	d.cmd("XDISCARD DELAYED f-6", "250 2.0.0 2 discards applied") // a copy named DELAYED first: a copy id
	if got := d.cmd("XDISCARD k-11 DELAYED bad/id", "501 5.5.4"); !strings.Contains(got, "DELAYED") {
		t.Fatalf("the syntax reply of a server of 19 leaves out its DELAYED word: %s", got)
	}
	d.cmd("QUIT", "221")
	want := []string{"hub2 a-1 DELAYED", "hub2 b-2 DELAYED", "hub2 c-3 RCPT=bob@example.test", "hub2 d-4", "hub2 DELAYED", "hub2 f-6"}
	if got := sh.appliedNow(); !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.PushDiscards([]string{"g-7", "DELAYED", "h-8 DELAYED"}); err != nil || n != 3 {
		t.Fatalf("pushed %d: %v", n, err)
	}
	want = append(want, "hub2 g-7", "hub2 DELAYED", "hub2 h-8 DELAYED")
	if got := sh.appliedNow(); !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q (the copy named DELAYED not read as g-7's note)", got, want)
	}
	// 18 is the boundary: a release of 18 (CODES, build 551e5867) reads
	// "j-10 DELAYED" as the full discards of j-10 and of a copy DELAYED.
	for _, v := range []int{18, 17} {
		c.ShadowVersion = v
		if n, err := c.PushDiscards([]string{"i-9", "j-10 DELAYED"}); !errors.Is(err, ErrNoDelayPush) || n != 0 {
			t.Fatalf("a delay note pushed to a server of %d: %d, %v; want nothing sent and ErrNoDelayPush", v, n, err)
		}
		if err := c.PushDiscard("j-10 DELAYED"); !errors.Is(err, ErrNoDelayPush) {
			t.Fatalf("one delay note pushed to a server of %d: %v", v, err)
		}
	}
	if got := sh.appliedNow(); len(got) != len(want) {
		t.Fatalf("applied %q after the refused pushes, want nothing more", got[len(want):])
	}
}
