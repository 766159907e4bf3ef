package queue

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// restoreFixture is a backup holding one message and a database at path
// holding it and one more (accepted after the backup, no shadow copy).
func restoreFixture(t *testing.T, dataDir string) (backup, path string) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(dataDir, "queue.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(from string) {
		m := msg(st, from, "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := st.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("From: "+from+"\r\n\r\nx\r\n")) }); err != nil {
			t.Fatal(err)
		}
	}
	put("a@example.org")
	backup = filepath.Join(t.TempDir(), "backup.db")
	if _, err := st.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	put("after@example.org")
	st.Close()
	return backup, path
}

// OPS-3 (db restore's report): what a restore leaves behind is counted
// under the database's lock, as the database is when it is replaced. A
// message accepted between the count and the lock (a daemon of an older
// release started and stopped in between) is in the report — before, the count was read
// before the restore locked the file, and such a message was left in the
// replaced file unreported, and not refused without --discard-newer.
func TestRestoreCountsWhatItLeavesUnderTheLock(t *testing.T) {
	backup, path := restoreFixture(t, t.TempDir())
	defer func() { restoreStep = nil }()
	added := false
	restoreStep = func(point string) {
		if point != "counted" || added {
			return
		}
		added = true
		// A daemon started now accepts a message and stops: one of an
		// older release, which knows no side lock (a daemon of this one
		// waits for the restore: TestDbCommandLocksBeforeItReads).
		hookNoCmdLock = true
		st, err := Open(path, Options{})
		hookNoCmdLock = false
		if err != nil {
			t.Errorf("opening the database between the count and the lock: %v", err)
			return
		}
		m := msg(st, "between@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := st.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte("x\r\n")) }); err != nil {
			t.Error(err)
		}
		st.Close()
	}
	var got []NotInBackup
	var counted bool
	_, err := RestoreWith(backup, path, RestoreOptions{Lost: func(lost []NotInBackup, known bool) error {
		got, counted = lost, known
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !added {
		t.Fatal("the restore did not count before its lock (no \"counted\" step)")
	}
	from := map[string]bool{}
	for _, m := range got {
		from[m.From] = true
	}
	if !counted || len(got) != 2 || !from["after@example.org"] || !from["between@example.org"] {
		t.Errorf("left behind as counted: %+v (known %v), want after@ and between@example.org: the database as it was replaced", got, counted)
	}

	// Refused by the count (no --discard-newer): nothing is replaced.
	backup, path = restoreFixture(t, t.TempDir())
	restoreStep = nil
	refusal := os.ErrPermission // any error of the caller's
	kept, err := RestoreWith(backup, path, RestoreOptions{Lost: func(lost []NotInBackup, known bool) error {
		if len(lost) > 0 {
			return refusal
		}
		return nil
	}})
	if err != refusal || kept != "" {
		t.Fatalf("a restore its count refuses: kept %q, %v", kept, err)
	}
	if m, _ := filepath.Glob(path + ".replaced-*"); len(m) > 0 {
		t.Errorf("a refused restore replaced the database: %v", m)
	}
}

// OPS-3 (db restore --owner): from the moment the restored database has
// the database's name, the user the daemon runs as may open it — the
// data directory and the spool directory are that user's then, not
// given only after the restore returned (a daemon started as the
// service user in between could not open its own database).
func TestRestoreGivesTheDataDirectoryBeforeTheName(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root")
	}
	parent := t.TempDir()
	dataDir := filepath.Join(parent, "data")
	if err := os.Mkdir(dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	backup, path := restoreFixture(t, dataDir)
	if err := os.MkdirAll(filepath.Join(dataDir, "spool"), 0o700); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	uidOf := func(p string) int {
		fi, err := os.Stat(p)
		if err != nil {
			return -1
		}
		return int(fi.Sys().(*syscall.Stat_t).Uid)
	}
	defer func() { restoreStep = nil }()
	var at []string
	restoreStep = func(point string) {
		switch point {
		case "renamed", "spool-installed", "spool-moved":
			if uidOf(path) != nobody || uidOf(dataDir) != nobody {
				at = append(at, point)
			}
		}
	}
	_, err := RestoreWith(backup, path, RestoreOptions{Owner: &Owner{UID: nobody, GID: nobody}, GiveDataDir: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(at) > 0 {
		t.Errorf("at %v the restored database has its name but the data directory %s (uid %d) or the file (uid %d) is not the daemon's user's",
			at, dataDir, uidOf(dataDir), uidOf(path))
	}
	// After: the spool directory too (made by the start when missing).
	if sp := filepath.Join(dataDir, "spool"); uidOf(sp) != -1 && uidOf(sp) != nobody {
		t.Errorf("the spool directory %s is uid %d after the restore, want %d", sp, uidOf(sp), nobody)
	}
	if uidOf(dataDir) != nobody {
		t.Errorf("the data directory is uid %d after the restore, want %d", uidOf(dataDir), nobody)
	}
}
