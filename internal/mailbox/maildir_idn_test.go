package mailbox

import (
	"os"
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

// Mail that releases before one Maildir per A-label wrote under a
// U-label domain directory (bücher.example/anna, bÜcher.example/anna)
// is merged at start into the A-label directory new mail goes to: each
// file moved by link then unlink, never replacing a name there, with its
// flags (cur/NAME:2,S stays in cur/); a delivery already in the A-label
// mailbox under the same name (new/ or cur/ with flags) stays in the old
// directory and is reported; a stray file in tmp/ is not mail and
// stays; a directory left empty is removed. An ASCII domain directory,
// an A-label one and an escaped name are no legacy directory. A second
// merge finds nothing to move.
func TestMaildirMergeLegacyIDN(t *testing.T) {
	root := t.TempDir()
	d := &Maildir{Root: root}
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("bücher.example/anna/new/O1", "one")
	write("bücher.example/anna/cur/O2:2,S", "two")
	write("bücher.example/anna/new/O3", "three-old")
	write("bücher.example/bob/cur/O4:2,", "four")
	write("bÜcher.example/anna/new/O5", "five")
	write("bücher.example/carl/new/O6", "six")
	write("bücher.example/carl/tmp/O7.host.1.1", "partial")
	write("xn--bcher-kva.example/anna/cur/O3:2,RS", "three-new")
	write("example.test/alice/new/O8", "ascii")
	// a merge that stopped between link and unlink
	write("bücher.example/dora/new/O10", "ten")
	os.MkdirAll(filepath.Join(root, "xn--bcher-kva.example/dora/new"), 0o700)
	if err := os.Link(filepath.Join(root, "bücher.example/dora/new/O10"), filepath.Join(root, "xn--bcher-kva.example/dora/new/O10")); err != nil {
		t.Fatal(err)
	}
	write("%E2x.example/eve/new/O9", "escaped")
	for _, sub := range []string{"tmp", "new", "cur"} {
		os.MkdirAll(filepath.Join(root, "bücher.example/anna", sub), 0o700)
	}

	rep, err := d.MergeLegacyIDN()
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return "(missing)"
		}
		return string(b)
	}
	for rel, want := range map[string]string{
		"xn--bcher-kva.example/anna/new/O1":      "one",
		"xn--bcher-kva.example/anna/cur/O2:2,S":  "two",
		"xn--bcher-kva.example/anna/cur/O3:2,RS": "three-new",
		"xn--bcher-kva.example/anna/new/O3":      "(missing)",
		"bücher.example/anna/new/O3":             "three-old",
		"xn--bcher-kva.example/bob/cur/O4:2,":    "four",
		"xn--bcher-kva.example/anna/new/O5":      "five",
		"xn--bcher-kva.example/carl/new/O6":      "six",
		"bücher.example/carl/tmp/O7.host.1.1":    "partial",
		"bücher.example/anna/new/O1":             "(missing)",
		"example.test/alice/new/O8":              "ascii",
		"xn--bcher-kva.example/dora/new/O10":     "ten",
		"bücher.example/dora/new/O10":            "(missing)",
		"%E2x.example/eve/new/O9":                "escaped",
	} {
		if got := read(rel); got != want {
			t.Errorf("%s: %q, want %q", rel, got, want)
		}
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if fi, err := os.Stat(filepath.Join(root, "xn--bcher-kva.example/bob", sub)); err != nil || !fi.IsDir() {
			t.Errorf("merged mailbox bob lacks %s/: %v", sub, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bÜcher.example")); !os.IsNotExist(err) {
		t.Errorf("an emptied legacy directory stays: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "bücher.example/bob")); !os.IsNotExist(err) {
		t.Errorf("an emptied legacy mailbox stays: %v", err)
	}
	if rep.Moved != 6 || len(rep.Left) != 1 || len(rep.Dirs) != 2 {
		t.Fatalf("report %+v", rep)
	}
	again, err := d.MergeLegacyIDN()
	if err != nil || again.Moved != 0 || len(again.Left) != 1 {
		t.Fatalf("second merge %+v, %v", again, err)
	}
}
