package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func putTest(t *testing.T, s *Store, m *Message, b []byte) {
	t.Helper()
	m.State = Ready
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, b) }); err != nil {
		t.Fatal(err)
	}
}

func has(t *testing.T, s *Store, id ID) bool {
	t.Helper()
	found := false
	s.View(func(tx *Tx) error {
		_, err := tx.Get(id)
		found = err == nil
		return nil
	})
	return found
}

// A backup is the running database as of one transaction; a database
// restored from it presents a new database id (SR-7: the shadow servers
// hold copies of what was accepted after the backup, and resubmit them),
// keeps it across restarts, and holds the messages of the backup.
func TestBackupRestorePresentsNewDatabaseID(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "queue.db")
	s, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	liveID := s.DatabaseID()
	before := msg(s, "a@x", "b@y")
	putTest(t, s, before, []byte(body))
	backup := filepath.Join(dir, "backup.db")
	n, err := s.WriteBackup(backup)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Size() != n || n == 0 {
		t.Fatalf("backup of %d bytes: %v %v", n, fi, err)
	}
	after := msg(s, "a@x", "c@y")
	putTest(t, s, after, []byte(body))
	s.Close()

	// The live database keeps its id: the backup marks only the copy.
	s, err = Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.DatabaseID() != liveID || s.RestoredFrom() != "" {
		t.Fatalf("live database: id %s (was %s), restored from %q", s.DatabaseID(), liveID, s.RestoredFrom())
	}
	s.Close()

	// Restore: the backup in place of the live file.
	if err := os.Rename(backup, live); err != nil {
		t.Fatal(err)
	}
	s, err = Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	restoredID := s.DatabaseID()
	if restoredID == liveID || len(restoredID) != 32 {
		t.Fatalf("restored database presents id %q, the backed-up one was %q", restoredID, liveID)
	}
	if s.RestoredFrom() != liveID {
		t.Errorf("restored from %q, want %q", s.RestoredFrom(), liveID)
	}
	if !has(t, s, before.ID) || has(t, s, after.ID) {
		t.Errorf("restored database: before %v, after %v", has(t, s, before.ID), has(t, s, after.ID))
	}
	s.Close()
	s, err = Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.DatabaseID() != restoredID || s.RestoredFrom() != "" {
		t.Errorf("second start after the restore: id %s (want %s), restored from %q", s.DatabaseID(), restoredID, s.RestoredFrom())
	}
}

// A backup never replaces an existing file: a typo must not overwrite
// the live database or an older backup.
func TestBackupRefusesExistingFile(t *testing.T) {
	s := openTest(t)
	path := filepath.Join(t.TempDir(), "exists")
	os.WriteFile(path, []byte("keep"), 0o600)
	if _, err := s.WriteBackup(path); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Fatal("existing file changed")
	}
}

// Compaction rewrites a database that a drained backlog left large, keeps
// every record and the database id, and refuses while the file is open.
func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	id := s.DatabaseID()
	big := make([]byte, 64<<10)
	var ids []ID
	for i := 0; i < 200; i++ {
		m := msg(s, "a@x", "b@y")
		putTest(t, s, m, big)
		ids = append(ids, m.ID)
	}
	kept := ids[0]
	for _, d := range ids[1:] {
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(d) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Compact(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("compaction of an open database: %v", err)
	}
	s.Close()
	before, after, err := Compact(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); after != fi.Size() || after >= before/4 {
		t.Fatalf("compaction: %d -> %d bytes (file %d)", before, after, fi.Size())
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.DatabaseID() != id || !has(t, s, kept) || len(messages(t, s)) != 1 {
		t.Fatalf("after compaction: id %s (want %s), %d messages", s.DatabaseID(), id, len(messages(t, s)))
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

// A file written by a newer release (a newer schema) is refused with a
// message that says so and what to do; it is not changed.
func TestSchemaDowngradeRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{schemaVersion + 1}) })
	db.Close()
	_, err = Open(path, Options{})
	if err == nil || !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "newer release") {
		t.Fatalf("open of a newer schema: %v", err)
	}
	db, _ = bolt.Open(path, 0o600, nil)
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != schemaVersion+1 {
			t.Errorf("schema version changed to %v", v)
		}
		return nil
	})
}

// Restore refuses what is not a backup and a database in use, keeps the
// database it replaces, and the restored file opens under a new id.
func TestRestore(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "queue.db")
	s, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	liveID := s.DatabaseID()
	m := msg(s, "a@x", "b@y")
	putTest(t, s, m, []byte(body))
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(backup, live); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore over a running database: %v", err)
	}
	s.Close()
	other := filepath.Join(t.TempDir(), "queue.db")
	o, _ := Open(other, Options{})
	o.Close()
	if _, err := Restore(other, live); err == nil || !strings.Contains(err.Error(), "not a backup") {
		t.Fatalf("restore of a plain database: %v", err)
	}
	kept, err := Restore(backup, live)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Open(kept, Options{})
	if err != nil || k.DatabaseID() != liveID {
		t.Fatalf("replaced database not kept: %v", err)
	}
	k.Close()
	s, err = Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.DatabaseID() == liveID || s.RestoredFrom() != liveID || !has(t, s, m.ID) {
		t.Fatalf("restored: id %s, from %s, message %v", s.DatabaseID(), s.RestoredFrom(), has(t, s, m.ID))
	}
}

// The database's used size falls when a backlog drains, although the
// file keeps its size (back pressure watches the used size, so a drained
// backlog does not hold the level up until a compaction).
func TestUsedBytesFallsWhenBacklogDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	empty := s.UsedBytes()
	var ids []ID
	for i := 0; i < 100; i++ {
		m := msg(s, "a@x", "b@y")
		putTest(t, s, m, make([]byte, 64<<10))
		ids = append(ids, m.ID)
	}
	full := s.UsedBytes()
	if full < empty+100*64<<10 {
		t.Fatalf("used %d bytes with 6.4 MB queued (empty: %d)", full, empty)
	}
	for _, id := range ids {
		s.Update(context.Background(), func(tx *Tx) error { return tx.Delete(id) })
	}
	fi, _ := os.Stat(path)
	if drained := s.UsedBytes(); drained > empty+1<<20 || fi.Size() < full {
		t.Fatalf("after draining: used %d (empty %d), file %d", drained, empty, fi.Size())
	}
}
