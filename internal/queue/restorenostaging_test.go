package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Q-5, OPS-3 (the sibling of a second restore killed before its rename that
// finishKilledRestoreIn leaves): a restore whose restored database names
// no spool file, killed after its rename and before it moved the
// replaced database's spool directory aside, leaves that move to the
// start (setSpoolAside, with the suffix the restore wrote). A second
// restore run before any start does not finish it: the replaced
// database is queue.db.replaced-T1, but its bodies go to the spool
// directory of the second restore's suffix, beside the first restore's
// database (which names none), and spool.replaced-T1 does not exist.
func TestQ5SecondRestoreAfterOneKilledPastItsRenameWithoutStagingKeepsSpoolBesideItsDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	ctx := context.Background()
	// The backup: small bodies only, nothing spooled on restore.
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("Subject: small\r\n\r\nhi\r\n")) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()

	path, old := dataDirStore(t)
	om, b := putReadySpooled(t, old, bigContent(400<<10))
	oldFile := spoolName(b)
	old.Close()

	killRestoreAt(t, backup, path, "renamed")
	suf1 := readAsideSuffix(path)
	if suf1 == "" {
		t.Fatal("the killed restore wrote no suffix")
	}
	kept, err := RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first suffix %s, second kept %s", suf1, kept)
	if _, err := os.Stat(path + suf1); err != nil {
		t.Fatalf("the first restore's kept database %s: %v", path+suf1, err)
	}
	spool := filepath.Join(filepath.Dir(path), "spool")
	if _, err := os.Stat(filepath.Join(spool+suf1, oldFile)); err != nil {
		ents, _ := os.ReadDir(filepath.Dir(path))
		where := dirsHolding(filepath.Dir(path), oldFile)
		t.Errorf("the body of %s (database %s) is not in %s but in %s; the data directory holds %s",
			om.ID, filepath.Base(path+suf1), filepath.Base(spool+suf1), strings.Join(where, ","), names(ents))
	}
}
