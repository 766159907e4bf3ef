package smtp

import (
	"slices"
	"strings"
	"testing"
)

// handBackShadow also gives messages to their copies' holders
// (HandBackDiscarder): a server with one offers version 11.
type handBackShadow struct {
	*partialShadow
	given map[string][]string // server -> copy ids given
}

func (h *handBackShadow) DiscardsHandBack(server string, max int) ([]string, func()) {
	lines, ack := h.DiscardsPartial(server, max)
	for _, id := range h.given[server] {
		if len(lines) < max {
			lines = append(lines, id+" TAKEOVER")
		}
	}
	return lines, ack
}

// Version 10: "XQUERYDISCARD <max> PARTIAL TAKEOVER" gets the messages
// given to the client after the partial discards; a version-9 query
// (PARTIAL alone) never does, and the client reads the lines as they
// are (queue.HandBackSuffix).
func TestHandBackVerbs(t *testing.T) {
	sh := &handBackShadow{partialShadow: newPartialShadow(), given: map[string][]string{"hub2": {partialCopyID}}}
	sh.partial["hub2"] = []string{partialCopyID + " RCPT=a@c.example"}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW 11") {
		t.Fatalf("XSHADOW 11 not advertised:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250")
	d.cmd("XQUERYDISCARD 5 TAKEOVER", "501 5.5.4") // only after PARTIAL
	if got := d.cmd("XQUERYDISCARD 5 PARTIAL", "250"); strings.Contains(got, "TAKEOVER") {
		t.Fatalf("a version-9 query got a message given:\n%s", got)
	}
	got := d.cmd("XQUERYDISCARD 5 PARTIAL TAKEOVER", "250") // the partial one went with the query before
	if !strings.Contains(got, "250 "+partialCopyID+" TAKEOVER") {
		t.Fatalf("reply:\n%s", got)
	}
	d.cmd("QUIT", "221")

	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	if c.ShadowVersion != 11 {
		t.Fatalf("client speaks version %d, want 11", c.ShadowVersion)
	}
	sh.partial["hub2"] = []string{partialCopyID + " RCPT=a@c.example"}
	sh.given["hub2"] = append(sh.given["hub2"], "bad id")
	ids, err := c.QueryDiscard(10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{partialCopyID + " RCPT=a@c.example", partialCopyID + " TAKEOVER"}; !slices.Equal(ids, want) {
		t.Fatalf("client read %q, want %q", ids, want)
	}
}
