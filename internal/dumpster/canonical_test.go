package dumpster

import (
	"testing"

	"umbra/internal/queue"
)

// A redelivered copy carries its addresses in the canonical form RCPT
// stores (rt16d F1): a recipient kept with a final dot by an earlier
// release is redelivered to the mailbox the user reads.
func TestCopyCanonicalAddresses(t *testing.T) {
	m := &queue.Message{From: "s@Example.Org.", Rcpts: []queue.Recipient{{Addr: "U@Example.Test."}, {Addr: "v@example.test"}}}
	cp := Copy(m, []int{0, 1})
	if cp.From != "s@example.org" || cp.Rcpts[0].Addr != "U@example.test" || cp.Rcpts[1].Addr != "v@example.test" {
		t.Errorf("copy from %q to %q %q", cp.From, cp.Rcpts[0].Addr, cp.Rcpts[1].Addr)
	}
}
