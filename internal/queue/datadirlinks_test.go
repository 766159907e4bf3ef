package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// restoreBesidePlantedLink makes a backup of one message and a data
// directory whose queue.db exists, plants there (as the daemon's user
// may while umbra is stopped) a symlink at queue.db+suffix naming a
// victim file (an /etc/shadow), and runs db restore of the backup into
// it. It returns the victim, what it holds after the restore and what
// it held before.
func restoreBesidePlantedLink(t *testing.T, suffix string) (string, []byte, string) {
	t.Helper()
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nbacked up\r\n")) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()

	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	victim := filepath.Join(t.TempDir(), "shadow")
	const content = "root:$6$secret:19000:0:99999:7:::\n"
	if err := os.WriteFile(victim, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	// Planted by the daemon's user while umbra was stopped.
	if err := os.Symlink(victim, path+suffix); err != nil {
		t.Fatal(err)
	}
	_, err = RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold,
		Lost: func([]NotInBackup, bool) error { return nil }})
	t.Logf("restore: %v", err)
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatalf("the file the planted link names: %v", err)
	}
	return victim, b, content
}

// OPS-1, OPS-3 (opsec26 F2): db restore, run as
// root, copies the backup to queue.db.restore in the data directory —
// the daemon's user's — with os.OpenFile(O_CREATE|O_TRUNC), following
// a symlink planted at that name: the file the link names is truncated
// and overwritten with the backup. ops26 3 closed the same hole for the
// spool directory and gave the side lock O_NOFOLLOW; the restore's own
// copy is still written through a link.
func TestOPS1RestoreCopyDoesNotFollowAPlantedLink(t *testing.T) {
	victim, b, content := restoreBesidePlantedLink(t, ".restore")
	if string(b) != content {
		t.Errorf("db restore wrote through the symlink queue.db.restore into %s: now %d bytes (%q...), was %q", victim, len(b), b[:min(len(b), 16)], content)
	}
}

// OPS-1, OPS-3 (opsec26 F2, its siblings): a compaction's copy, which
// bbolt and the respooling open again by its name after the command
// made it, is not opened through a symlink or a second name the
// daemon's user put in its place meanwhile: the file the link names is
// left as it was (an empty file, as /etc/nologin: bbolt makes a
// database of an empty file it opens).
func TestOPS1OwnCopyNotOpenedThroughALink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "nologin")
	const content = ""
	if err := os.WriteFile(victim, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "queue.db.compact")
	if err := os.Symlink(victim, sym); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "queue.db.restore-compact")
	if err := os.Link(victim, hard); err != nil {
		t.Skipf("no hard link here: %v", err)
	}
	held, err := os.Open(dir) // the In variants: looked up through the held directory
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, p := range []string{sym, hard} {
		for _, in := range []*os.File{nil, held} {
			for name, open := range map[string]func(*os.File, string) error{
				"respoolInline": func(in *os.File, p string) error {
					_, err := respoolInline(p, in, filepath.Join(dir, "spool"), testThreshold, true)
					return err
				},
				"recordsUnsummed": recordsUnsummed,
				"bodiesAsValues":  bodiesAsValues,
				"compactCopy":     compactCopy,
			} {
				if err := open(in, p); !errors.Is(err, errNotOwnCopy) {
					t.Errorf("%s of %s (held %v): %v; want it refused as not the command's own copy", name, filepath.Base(p), in != nil, err)
				}
			}
		}
	}
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("written through a link: now %d bytes, was %q", len(b), content)
	}
}
