package smtp

import (
	"math"
	"strings"
	"testing"
)

// SR-7 (version 7 rollback marks, W-2): a holder's mark is a uint64
// counter raised by one in every commit that names the holder, so it
// passes ten digits on a busy primary in time (10^10 copies); whatever
// mark umbra's own client presents (XSHADOW … MARK=<n> DB=<id>) or
// pushes with a copy (XSHADOWMARK=), umbra's server reads. Refused, the
// primary's push sessions fail and its holder's heartbeats with it:
// takeovers, deliveries twice.
func TestSR7MarkBeyondTenDigitsRead(t *testing.T) {
	for _, mark := range []uint64{10_000_000_000, 1 << 40, math.MaxUint64} {
		q := &markQueue{mark: 5}
		sh := &heldShadow{signalShadow: signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}}
		s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
		c := clientFor(t, s)
		c.PresentMark(mark, "dbP")
		if _, err := c.Shadow("hub2"); err != nil {
			t.Fatalf("mark %d presented: %v", mark, err)
		}
		m := batchMsg("a@example.org", "x@example.net")
		m.HolderMark = mark
		if err := c.PushCopy(m, []byte("Subject: x\r\n\r\nhi\r\n"), "dbP"); err != nil {
			t.Fatalf("copy pushed with mark %d: %v", mark, err)
		}
		q.mmu.Lock()
		seen, copied := strings.Join(q.seen, ","), q.copied
		q.mmu.Unlock()
		if seen != "hub2 dbP "+itoa(mark)+" floor 4" {
			t.Fatalf("marks checked: %s; want the presented %d", seen, mark)
		}
		if len(copied) != 1 || copied[0] != mark {
			t.Fatalf("copies kept with marks %v; want one with %d", copied, mark)
		}
	}
}
