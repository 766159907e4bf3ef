package queue

import (
	"os"
	"path/filepath"
	"testing"
)

// Q-5, OPS-3: a restore that staged nothing (its backup's body under the
// restore's threshold) killed after its rename, where the name its
// replaced spool directory is to take (spool + the killed restore's
// suffix) is already taken — a clock stepped back, an operator's copy.
// A compaction before the first start, at a lower threshold, spools the
// restored body. The replaced database's own spooled body (a message
// accepted after the backup) must not be claimed as the restored
// database's and swept at the start: it stays, beside the database it
// belongs to, under a free name.
func TestQ5CompactAfterKilledRestoreWithAsideNameTakenKeepsReplacedBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path, s := dataDirStore(t)
	dir := filepath.Dir(path)
	putReady(t, s, bigContent(100<<10))
	backup := backupTo(t, s, BackupOptions{})
	// Accepted after the backup: the replaced database's own, in spool/.
	_, lb := putReadySpooled(t, s, bigContent(400<<10))
	liveFile := spoolName(lb)
	s.Close()

	killRestoreAt(t, backup, path, "renamed")
	if _, err := os.Stat(filepath.Join(dir, "spool.restore")); err == nil {
		t.Fatal("the restore staged something: not this case")
	}
	suf := readAsideSuffix(path)
	if suf == "" {
		t.Fatal("no suffix recorded: not this case")
	}
	if err := os.Mkdir(filepath.Join(dir, "spool"+suf), 0o700); err != nil { // the name taken
		t.Fatal(err)
	}
	if _, _, err := CompactTo(path, 32<<10, 0); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	ents, _ := os.ReadDir(dir)
	where := dirsHolding(dir, liveFile)
	t.Logf("data directory %s; the replaced database's body in %v", names(ents), where)
	if len(where) != 1 || where[0] == "spool" || where[0] == "spool"+suf {
		t.Fatalf("the replaced database's body %s is in %v: want it moved aside under a free name", liveFile, where)
	}
}
