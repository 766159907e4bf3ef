package smtp

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// partialShadow keeps partial discards (PartialDiscarder): a server
// with one offers version 9.
type partialShadow struct {
	heldShadow
	pmu     sync.Mutex
	partial map[string][]string // server -> "<id> RCPT=<xtext>"
	asked   int                 // DiscardsPartial calls
}

func (p *partialShadow) DiscardsPartial(server string, max int) ([]string, func()) {
	full, ackFull := p.Discards(server, max)
	p.pmu.Lock()
	defer p.pmu.Unlock()
	p.asked++
	ps := p.partial[server]
	if n := max - len(full); len(ps) > n {
		ps = ps[:n]
	}
	ps = append([]string(nil), ps...)
	return append(full, ps...), func() {
		ackFull()
		p.pmu.Lock()
		p.partial[server] = p.partial[server][len(ps):]
		p.pmu.Unlock()
	}
}

func newPartialShadow() *partialShadow {
	return &partialShadow{heldShadow: heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}},
		partial: map[string][]string{}}
}

const partialCopyID = "0123456789ABCDEF-01234567-0123456789ab"

// Version 9: "XQUERYDISCARD <max> PARTIAL" gets the full discards, then
// the partial ones, one line each, counted in max; the client asks for
// them of a version-9 server and reads each into its wire form, dropping
// malformed lines.
func TestPartialDiscardVerbs(t *testing.T) {
	sh := newPartialShadow()
	sh.notes["hub2"] = []string{"FULL-1"}
	sh.partial["hub2"] = []string{partialCopyID + " RCPT=a@c.example", partialCopyID + " RCPT=+22b+20c+22@c.example"}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 10") {
		t.Fatalf("XSHADOW 10 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD PARTIAL", "501 5.5.4")
	d.cmd("XQUERYDISCARD 2 PARTIAL X", "501 5.5.4")
	got := d.cmd("XQUERYDISCARD 2 WAIT=1 PARTIAL", "250")
	if !strings.Contains(got, "250-2.0.0 2 discard notifications") || !strings.Contains(got, "250-FULL-1") ||
		!strings.Contains(got, "250 "+partialCopyID+" RCPT=a@c.example") {
		t.Fatalf("reply:\n%s", got)
	}
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 10 { // partial discards and the database id alone; no hand-back (11)
		t.Fatalf("client speaks version %d, want 10", c.ShadowVersion)
	}
	sh.partial["hub2"] = append(sh.partial["hub2"], "bad id RCPT=x", partialCopyID+" RCPT=+zz")
	ids, err := c.QueryDiscard(10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{partialCopyID + ` RCPT="b+20c"@c.example`}; !slices.Equal(ids, want) {
		t.Fatalf("client read %q, want %q", ids, want)
	}
}

// A server of version 8 (no partial discards) refuses PARTIAL, and a
// client sends none to it: its queries are those of version 8.
func TestPartialDiscardNotAskedOfOlderPeer(t *testing.T) {
	sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{"hub2": {"FULL-1"}}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 8") {
		t.Fatalf("XSHADOW 8 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD 10 PARTIAL", "501 5.5.4")
	d.cmd("QUIT", "221")
	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 8 {
		t.Fatalf("client speaks version %d, want 8", c.ShadowVersion)
	}
	ids, err := c.QueryDiscard(10) // refused with 501 if it carried PARTIAL
	if err != nil || !slices.Equal(ids, []string{"FULL-1"}) {
		t.Fatalf("query of a version-8 server: %q %v", ids, err)
	}
}
