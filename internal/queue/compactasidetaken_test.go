package queue

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, bigContent(100<<10)) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := SaveBackup(backup, func(w io.Writer) (int64, error) {
		return s.BackupWith(w, BackupOptions{}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	// Accepted after the backup: the replaced database's own, in spool/.
	lb := spooled(t, s, bigContent(400<<10))
	live := msg(s, "a@example.org", "c@example.test")
	live.State, live.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(live, lb) }); err != nil {
		t.Fatal(err)
	}
	lp, _, _ := lb.File()
	liveFile := filepath.Base(lp)
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
	var where []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), liveFile)); err == nil {
			where = append(where, e.Name())
		}
	}
	t.Logf("data directory %s; the replaced database's body in %v", names(ents), where)
	if len(where) != 1 || where[0] == "spool" || where[0] == "spool"+suf {
		t.Fatalf("the replaced database's body %s is in %v: want it moved aside under a free name", liveFile, where)
	}
}
