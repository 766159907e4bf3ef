package mailbox

import (
	"path/filepath"
	"testing"
)

// One mailbox, one directory: an internationalised domain is written as
// its lower-case A-label whichever form the sender gave (U-label in any
// case, A-label in any case), and the delivery name — the Maildir's
// exactly-once check — is one for both forms. An ASCII domain keeps its
// directory exactly as before (ASCII case folded, nothing else).
func TestMaildirIDNDomainOneDirectory(t *testing.T) {
	d := &Maildir{Root: "/m"}
	want := filepath.Join("/m", "xn--bcher-kva.example", "anna")
	for _, dom := range []string{"bücher.example", "BÜCHER.Example", "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE"} {
		if got := d.Path("Anna", dom); got != want {
			t.Errorf("Path(Anna, %q) = %q, want %q", dom, got, want)
		}
	}
	if got := d.Path("alice", "Example.TEST"); got != filepath.Join("/m", "example.test", "alice") {
		t.Errorf("an ASCII domain's directory moved: %q", got)
	}
	if got := d.Path("alice", "ab--c.example"); got != filepath.Join("/m", "ab--c.example", "alice") {
		t.Errorf("an ASCII domain's directory moved: %q", got)
	}
	if Name("db", "org", "anna@bücher.example") != Name("db", "org", "ANNA@xn--bcher-kva.example") {
		t.Error("the U-label and the A-label form of one address have two delivery names")
	}
	if Name("db", "org", "alice@example.test") != Name("db", "org", "Alice@EXAMPLE.test") {
		t.Error("ASCII case splits a delivery name")
	}
}
