package mailbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// rt17d-F2: a copy the user moved into a Maildir++ folder (.Archive/cur,
// .Lists.Go/new) is still in the mailbox: a repeated delivery (a
// resubmitted dumpster copy) writes nothing. A folder directory without
// the message, a file named like a folder and a dot name that is no
// folder change nothing.
func TestDeliverOnceAcrossFolders(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	body := []byte("Subject: x\r\n\r\nhi\r\n")
	dir := d.Path("bob", "example.test")
	for i, move := range []string{".Archive/cur/%s:2,S", ".Lists.Go/new/%s", ".Archive/cur/%s"} {
		name := Name("DB1", "0123456789abcdef0123456789abcde"+string(rune('a'+i)), "bob@example.test")
		if err := d.Deliver("bob", "example.test", "a@b", name, body); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{".Archive", ".Lists.Go", ".Empty"} {
			for _, sub := range []string{"cur", "new", "tmp"} {
				os.MkdirAll(filepath.Join(dir, f, sub), 0o700)
			}
		}
		os.WriteFile(filepath.Join(dir, ".notafolder"), []byte("x"), 0o600)
		to := filepath.Join(dir, filepath.FromSlash(fmt.Sprintf(move, name)))
		if err := os.Rename(filepath.Join(dir, "new", name), to); err != nil {
			t.Fatal(err)
		}
		if err := d.Deliver("bob", "example.test", "a@b", name, body); !errors.Is(err, ErrAlreadyDelivered) {
			t.Fatalf("copy moved to %s delivered again: %v", move, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "new", name)); err == nil {
			t.Fatalf("second copy in new/ beside the one in %s", move)
		}
	}
}
