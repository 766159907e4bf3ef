package smtp

import (
	"strings"
	"testing"
)

// racingShadow lists its notifications and then, before the reply is
// written, has a copy committed for the asking holder: the primary's
// mark rises between the listing and the reply.
type racingShadow struct {
	*heldShadow
	q *markQueue
}

func (r *racingShadow) Discards(server string, max int) ([]string, func()) {
	ids, ack := r.heldShadow.Discards(server, max)
	r.q.mmu.Lock()
	r.q.mark++ // a copy of hub2's committed here after the listing
	r.q.mmu.Unlock()
	return ids, ack
}

// SR-17, rrearlymark40: the MARK= of an XQUERYDISCARD reply is read
// before the notifications it lists, never after. The holder keeps an
// early discard under it (queue AddEarlyDiscard) and lets it settle
// every copy whose mark is not above it: read after the listing, it
// covered a copy committed at the primary between the two — a copy made
// after the discard, met by it at the holder and not kept, answered 250
// with the holder named, and lost with the primary.
func TestQueryDiscardMarkReadBeforeListing(t *testing.T) {
	q := &markQueue{mark: 5}
	sh := &racingShadow{heldShadow: &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{"hub2": {"a-1", "b-2"}}},
		sig: discardSig{ch: map[string]chan struct{}{}}}}, q: q}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK", "250")
	if got := d.cmd("XQUERYDISCARD 1", "250"); !strings.Contains(got, " discard notifications MARK=5") {
		t.Fatalf("XQUERYDISCARD reply %q: want the mark read before the listing (5), not after it (6)", got)
	}
	d.cmd("QUIT", "221")

	// The client hands the holder the same mark.
	c := clientFor(t, s)
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	ids, err := c.QueryDiscard(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || c.DiscardMark != 6 {
		t.Fatalf("listed %v under mark %d; want b-2 under 6, read before the listing raised it to 7", ids, c.DiscardMark)
	}
}
