package mailbox

import (
	"os"
	"testing"
)

// The writer takes canonical addresses only (SR-12, rt16d F1): a domain
// with a final dot is the same domain as without it, and a directory of
// its own for it would hold mail the user never reads. It is refused,
// and no directory is made.
func TestDeliverRefusesNonCanonicalDomain(t *testing.T) {
	root := t.TempDir()
	d := &Maildir{Root: root, Hostname: "mx.test"}
	for _, dom := range []string{"example.test.", "Example.Test."} {
		if err := d.Deliver("u", dom, "s@example.test", "n1", []byte("Subject: x\r\n\r\nhi\r\n")); err == nil {
			t.Errorf("domain %q: delivered", dom)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("directories made for a non-canonical domain: %v", ents)
	}
}
