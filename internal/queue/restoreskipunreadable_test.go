package queue

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
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
	path, s := dataDirStore(t)
	_, sb := putReadySpooled(t, s, bigContent(400<<10))
	sound, _ := putReadySpooled(t, s, bigContent(350<<10))
	p, _, _ := sb.File()
	if err := os.Truncate(p, 1000); err != nil { // damaged, still in spool/
		t.Fatal(err)
	}
	backup := backupTo(t, s, BackupOptions{SkipUnreadable: true})
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
