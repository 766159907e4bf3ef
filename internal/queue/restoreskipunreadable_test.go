package queue

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Q-5, OPS-3: a backup taken with
// SkipUnreadable keeps the reference of a body whose spool file was
// unreadable (truncated, or its checksum changed) — the file itself
// stays in the live spool directory. Restored onto the same data
// directory and killed after its rename, the restore's staging spool
// holds every sound body; the start must install it. ownStaging takes
// the damaged file's name, present in the live spool/, for "the
// database in place uses spool/" and removes the staging spool: every
// sound body the restore put there is lost, and the replaced database's
// bodies are swept from spool/ too.
func TestQ5RestoreOfSkipUnreadableBackupKilledAfterRenameKeepsBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(content []byte) (*Message, Body) {
		b := spooled(t, s, content)
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	_, sb := put(bigContent(400 << 10))
	sound, _ := put(bigContent(350 << 10))
	p, _, _ := sb.File()
	if err := os.Truncate(p, 1000); err != nil { // damaged, still in spool/
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "skip.db")
	if _, err := SaveBackup(backup, func(w io.Writer) (int64, error) {
		return s.BackupWith(w, BackupOptions{SkipUnreadable: true}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	for _, then := range []string{"start", "restore"} {
		t.Run(then, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "data", "queue.db")
			os.MkdirAll(filepath.Dir(p), 0o700)
			// The same data directory as the backup's: a copy of it.
			copyTree(t, filepath.Dir(path), filepath.Dir(p))
			killRestoreAt(t, backup, p, "renamed")
			if then == "restore" {
				// A second restore must finish the first
				// (finishKilledRestoreIn) before it removes spool.restore
				// as a leftover; killed itself before its rename, the
				// first one's database stays in place.
				killRestoreAt(t, backup, p, "respooled")
			}
			r, err := Open(p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ents, _ := os.ReadDir(filepath.Dir(p))
			sp, _ := os.ReadDir(filepath.Join(filepath.Dir(p), "spool"))
			t.Logf("after the start: data directory %s; spool/ %s", names(ents), names(sp))
			r.View(func(tx *Tx) error {
				b, err := tx.BodyOf(sound.ID)
				if err != nil || !b.Spooled() || b.checkSpool() != nil {
					t.Errorf("the sound body of %s is lost after the start (%v, missing %q)", sound.ID, err, r.MissingSpool())
					return nil
				}
				if !bytes.Equal(readAllBody(t, b), bigContent(350<<10)) {
					t.Errorf("the sound body of %s differs", sound.ID)
				}
				return nil
			})
		})
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
