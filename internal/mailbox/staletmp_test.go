package mailbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A kill -9 between the write into tmp/ and the unlink after the link
// leaves a full-size file in tmp/ (rt19h F10). The next delivery of that
// name by this server removes what an earlier process of it left there
// under that name, and any file of tmp/ untouched for 36 hours (the
// Maildir rule for tmp/); a file another writer may still be writing is
// kept.
func TestDeliverRemovesStaleTmp(t *testing.T) {
	d := &Maildir{Root: t.TempDir(), Hostname: "mx.test"}
	dir := d.Path("bob", "example.test")
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, age time.Duration) string {
		p := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
		return p
	}
	earlier := write("O1.mx.test.1.7", 0)         // this name, an earlier process of this server
	old := write("O2.mx.test.1.3", 37*time.Hour)  // another name, abandoned long ago
	otherHost := write("O1.mx2.test.1.4", 0)      // this name, another server of a shared store
	fresh := write("O3.mx.test.1.5", time.Minute) // another name, maybe being written now
	ours := write("O1.mx.test.1x.9", 0)           // not a name this server writes
	// This process's id, written before it began: an earlier process
	// that had the same id (PID 1 in a container at every start).
	samePID := write(fmt.Sprintf("O1.mx.test.%d.4", os.Getpid()), time.Since(processStart)+time.Minute)
	// This process's id, written now: maybe mid-write, kept.
	nowPID := write(fmt.Sprintf("O1.mx.test.%d.999", os.Getpid()), 0)
	if err := d.Deliver("bob", "example.test", "a@example.org", "O1", []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	for p, gone := range map[string]bool{earlier: true, old: true, otherHost: false, fresh: false, ours: false, samePID: true, nowPID: false} {
		_, err := os.Stat(p)
		if gone != errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: removed %v, want %v", filepath.Base(p), !gone, gone)
		}
	}

	// Killed after the link, before the unlink: tmp/ holds a second name
	// of the delivered file; the repeat finds the delivery and removes it.
	if err := os.Link(filepath.Join(dir, "new", "O1"), filepath.Join(dir, "tmp", "O1.mx.test.2.1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver("bob", "example.test", "a@example.org", "O1", []byte("Subject: x\r\n\r\nhi\r\n")); !errors.Is(err, ErrAlreadyDelivered) {
		t.Fatalf("repeat: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", "O1.mx.test.2.1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the linked tmp/ name of a delivered file stayed: %v", err)
	}
}
