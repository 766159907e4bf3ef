package queue

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// OPS-3: the compaction held the data directory for everything it wrote
// but read its source database by the path: a directory swapped for a
// link to another one (holding another queue.db) between the hold and
// the read, and swapped back before the rename, had it compact the
// other database and rename that copy over this one. The source is read
// through the held descriptor, as the restore reads its copy.
func TestOPS3CompactReadsTheDatabaseOfTheDirectoryItHolds(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dataDir := filepath.Join(parent, "data")
	os.Mkdir(dataDir, 0o750)
	path := filepath.Join(dataDir, "queue.db")
	put := func(p, from string) ID {
		t.Helper()
		s, err := Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		m := msg(s, from, "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nhi\r\n")) }); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	ours := put(path, "ours@example.org")
	other := t.TempDir()
	put(filepath.Join(other, "queue.db"), "other@example.org")
	defer func() { compactStep = nil }()
	compactStep = func(point string) {
		switch point {
		case "begin": // held; the source not read yet
			swapForLink(t, dataDir, other)
		case "respooled": // read; swapped back before the rename's check
			if err := os.Remove(dataDir); err != nil {
				t.Error(err)
			}
			if err := os.Rename(dataDir+".moved", dataDir); err != nil {
				t.Error(err)
			}
		}
	}
	_, _, err := CompactSpooling(path, testThreshold)
	compactStep = nil
	if err != nil {
		t.Fatalf("compaction: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var from string
	_ = s.View(func(tx *Tx) error {
		if m, err := tx.Get(ours); err == nil {
			from = m.From
		}
		return nil
	})
	if from != "ours@example.org" {
		t.Errorf("after the compaction the database at %s holds message %s from %q, want ours@example.org: it compacted the database the link led to", path, ours, from)
	}
}
