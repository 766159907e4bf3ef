package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// checkTree is a mailbox of an inbox and three Maildir++ folders, files
// in each cur/ (read mail, with flags), and the delivery name it holds in
// the last folder's cur/.
func checkTree(t testing.TB, files int) (d *Maildir, dir, held string) {
	d = &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	dir = d.Path("bob", "example.test")
	for _, f := range []string{"", ".Archive", ".Lists", ".Sent"} {
		for _, sub := range []string{"tmp", "new", "cur"} {
			if err := os.MkdirAll(filepath.Join(dir, f, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for i := range files {
			n := Name("DB1", fmt.Sprintf("%032x", i), "bob"+f+"@example.test") + ":2,S"
			if err := os.WriteFile(filepath.Join(dir, f, "cur", n), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	held = Name("DB1", "held", "bob@example.test")
	if err := os.WriteFile(filepath.Join(dir, ".Sent", "cur", held+":2,RS"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return d, dir, held
}

// The delivery check (has: is this copy in the mailbox already, in new/
// or cur/ of the inbox or a folder) reads each folder's cur/ by its
// names, 256 at a time, without a stat, a sort or an entry value per
// file: what it holds at once is one batch, whatever the size of the
// mailbox (a check runs per recipient at each delivery and each dumpster
// redelivery). The same code runs on every system (no decoding of
// directory records of its own, whose byte order would be the machine's).
func TestDeliveryCheckMemoryBoundedByMailboxSize(t *testing.T) {
	const files = 500
	d, dir, held := checkTree(t, files)
	if !d.has(dir, held) {
		t.Fatal("the copy in .Sent/cur with flags is not found")
	}
	absent := Name("DB1", "absent", "bob@example.test")
	if d.has(dir, absent) {
		t.Fatal("an absent copy is found")
	}
	// A name that is a prefix of one there, or one there with more
	// after it than its info, is another delivery.
	if d.has(dir, held[:len(held)-1]) || d.has(dir, held+"x") {
		t.Fatal("a prefix of a delivery's name, or a longer name, is found as it")
	}
	// One value per name read (its string) and a few per directory: an
	// entry value or a stat per file would be two or more per name.
	names := 4*files + 1
	allocs := testing.AllocsPerRun(20, func() { d.has(dir, absent) })
	if allocs > float64(names+200) {
		t.Errorf("a check of a mailbox of %d read messages allocates %.0f times, want at most %d (one per name)", names, allocs, names+200)
	}
}

func BenchmarkDeliveryCheck(b *testing.B) {
	d, dir, _ := checkTree(b, 500)
	absent := Name("DB1", "absent", "bob@example.test")
	b.ReportAllocs()
	for b.Loop() {
		d.has(dir, absent)
	}
}
