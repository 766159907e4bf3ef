package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// skipUnreadableNoStagingFixture makes a database whose only spooled
// body at backup time is damaged (its file still in spool/), a backup
// of it taken with SkipUnreadable (whose restore stages nothing), and a
// message accepted after the backup, spooled: the replaced database's
// own. It returns the database, the backup, and that message's id and
// spool file name.
func skipUnreadableNoStagingFixture(t *testing.T) (path, backup, liveID, liveFile string) {
	t.Helper()
	path, s := dataDirStore(t)
	_, db := putReadySpooled(t, s, bigContent(400<<10))
	p, _, _ := db.File()
	if err := os.Truncate(p, 1000); err != nil { // damaged, still in spool/
		t.Fatal(err)
	}
	backup = backupTo(t, s, BackupOptions{SkipUnreadable: true})
	// A message accepted after the backup: the replaced database's own.
	live, lb := putReadySpooled(t, s, bigContent(350<<10))
	s.Close()
	return path, backup, live.ID.String(), spoolName(lb)
}

// Q-5, OPS-3: the sibling of
// TestQ5RestoreOfSkipUnreadableBackupKilledAfterRenameKeepsBodies where
// the restore staged nothing — the backup (SkipUnreadable) keeps only the
// reference of a damaged spooled body, whose file is still in the live
// spool/. Killed after its rename, the replaced database's spool
// directory must be moved aside, by the start (setSpoolAside) or by a
// second restore (finishKilledSpoolAsideIn), under the killed restore's
// suffix. Both decide by "the restored database names a file in
// spool/", which the damaged body's name answers yes: the start sweeps
// the replaced database's bodies, a second restore moves them under its
// own suffix.
func TestQ5SkipUnreadableNoStagingKilledAfterRenameKeepsReplacedBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path, backup, liveID, liveFile := skipUnreadableNoStagingFixture(t)
	for _, then := range []string{"start", "restore"} {
		t.Run(then, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "data", "queue.db")
			os.MkdirAll(filepath.Dir(p), 0o700)
			copyTree(t, filepath.Dir(path), filepath.Dir(p))
			killRestoreAt(t, backup, p, "renamed")
			suf1 := readAsideSuffix(p)
			if _, err := os.Stat(p + ".restore"); err == nil {
				t.Log("note: queue.db.restore present")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), "spool.restore")); err == nil {
				t.Fatal("the restore staged something: not this case")
			}
			if then == "restore" {
				if _, err := RestoreWith(backup, p, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
					t.Fatal(err)
				}
			} else {
				r, err := Open(p, Options{})
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
			}
			dir := filepath.Dir(p)
			ents, _ := os.ReadDir(dir)
			where := dirsHolding(dir, liveFile)
			t.Logf("suffix of the killed restore %q; data directory %s; body of %s in %v", suf1, names(ents), liveID, where)
			if len(where) == 0 {
				t.Fatalf("the replaced database's body of %s (%s) is gone: swept", liveID, liveFile)
			}
			if suf1 != "" && !(len(where) == 1 && where[0] == "spool"+suf1) {
				t.Errorf("the replaced database (%s) has its body of %s in %s, not in %s",
					"queue.db"+suf1, liveID, strings.Join(where, ","), "spool"+suf1)
			}
		})
	}
}

// Q-5, OPS-3: the same restore (a SkipUnreadable backup whose every
// spooled body was damaged: nothing staged) killed -9 at every step,
// then a start, or a second restore and then a start: the replaced
// database's spooled body is never swept, and once the killed restore
// renamed its copy it is kept beside the database it belongs to
// (spool.replaced-TIME with queue.db.replaced-TIME, the killed restore's
// suffix), not under a second restore's.
func TestQ5SkipUnreadableNoStagingKilledAtEveryStepKeepsReplacedBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	path, backup, liveID, liveFile := skipUnreadableNoStagingFixture(t)
	renamedBy := map[string]bool{"renamed": true, "spool-moved": true, "end": true}
	for _, step := range []string{"held", "copied", "respooled", "compacted", "locked", "kept", "renamed", "spool-moved", "end"} {
		for _, then := range []string{"start", "restore"} {
			t.Run(step+"/"+then, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "data", "queue.db")
				os.MkdirAll(filepath.Dir(p), 0o700)
				copyTree(t, filepath.Dir(path), filepath.Dir(p))
				killRestoreAt(t, backup, p, step)
				suf1 := readAsideSuffix(p)
				if then == "restore" {
					if _, err := RestoreWith(backup, p, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
						t.Fatal(err)
					}
				}
				r, err := Open(p, Options{})
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				dir := filepath.Dir(p)
				ents, _ := os.ReadDir(dir)
				where := dirsHolding(dir, liveFile)
				if len(where) != 1 {
					t.Fatalf("the replaced database's body of %s (%s) is in %v (data directory %s), not in one spool directory",
						liveID, liveFile, where, names(ents))
				}
				// The database that names it is beside it: queue.db with
				// spool, queue.db.replaced-X with spool.replaced-X.
				suf, _ := strings.CutPrefix(where[0], "spool")
				if _, err := os.Stat(filepath.Join(dir, "queue.db"+suf)); err != nil {
					t.Errorf("the body of %s is in %s, beside no database queue.db%s (data directory %s)", liveID, where[0], suf, names(ents))
				}
				if renamedBy[step] && suf1 != "" && where[0] != "spool"+suf1 {
					t.Errorf("the body of %s is in %s, not beside queue.db%s the killed restore kept (data directory %s)",
						liveID, where[0], suf1, names(ents))
				}
				if !renamedBy[step] && then == "start" && where[0] != "spool" {
					t.Errorf("a restore killed before its rename moved the body of %s to %s", liveID, where[0])
				}
			})
		}
	}
}
