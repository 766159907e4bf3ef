package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// earlyDSNSetup is an original with a copy on hub-a whose failure DSN,
// queued here, reports x@ of that copy (dsnreported), beside n entries
// of other DSNs.
func earlyDSNSetup(t *testing.T, s *Store, n int) (m, dsn *Message) {
	t.Helper()
	reportedFixture(t, s, n)
	m = msg(s, "sender@example.org", "x@b.example", "y@c.example")
	m.OrgID = "0123456789abcdef0123456789abcdee"
	m.ShadowServer, m.ShadowID = "hub-a", m.OrgID
	m.Rcpts[0].Status = Failed
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(m, []byte(body)); err != nil {
			return err
		}
		dsn = &Message{ID: s.NewID(time.Now()), State: Ready, NextAttempt: time.Now().Add(time.Hour), Connector: "dsn", Internal: true,
			ReportOn: m.ID, Rcpts: []Recipient{{Addr: "sender@example.org", Notify: NotifyNever}}}
		if err := tx.PutNew(dsn, []byte(body)); err != nil {
			return err
		}
		return tx.noteReported(dsn.ID, m.ID, m.OrgID, "hub-a", m.OrgID, []string{"x@b.example"})
	}); err != nil {
		t.Fatal(err)
	}
	return m, dsn
}

// carriesCounted runs earlyDSNCarries for m in a transaction rolled
// back, and returns what it found and the dsnreported entries it read.
func carriesCounted(t *testing.T, s *Store, m *Message) (ID, bool, int64) {
	t.Helper()
	var id ID
	var ok bool
	before := reportedSteps.Load()
	if err := s.ViewSettled(func(tx *Tx) error {
		var err error
		id, ok, err = tx.earlyDSNCarries(m)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id, ok, reportedSteps.Load() - before
}

// SR-4: the end of a message with a copy elsewhere looks for its early
// failure DSNs (earlydsn.go) in the index by original, not by a walk
// over every DSN owed a partial discard: with 5,000 other entries
// queued it reads the one entry of its own DSN (a step in the index, a
// read of the entry), not 5,001.
func TestSR4EarlyDSNFoundByIndexNotWalk(t *testing.T) {
	s := openTest(t)
	m, dsn := earlyDSNSetup(t, s, 5000)
	id, ok, steps := carriesCounted(t, s, m)
	if !ok || id != dsn.ID {
		t.Fatalf("earlyDSNCarries found %s, %v; want the failure DSN %s", id, ok, dsn.ID)
	}
	if steps > 2 {
		t.Fatalf("earlyDSNCarries read %d dsnreported entries with 5,001 queued; want its own DSN's alone (2 steps)", steps)
	}
	// A message with none reads none.
	other := msg(s, "sender@example.org", "z@b.example")
	other.ShadowServer, other.ShadowID = "hub-a", "fedcba9876543210fedcba9876543210"
	if _, ok, steps := carriesCounted(t, s, other); ok || steps != 0 {
		t.Fatalf("a message with no early DSN: found %v after %d steps; want none, no step", ok, steps)
	}
}

// SR-4: the index follows every change of dsnreported in the same
// transaction — a refit's move, the DSN's removal — and an Open rebuilds
// it when a release without it (or a lost bucket) left it out of step.
func TestSR4EarlyDSNIndexKeptAndRebuiltAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, dsn := earlyDSNSetup(t, s, 10)
	// A refit moves the entry to the DSN made again (moveReported).
	moved := s.NewID(time.Now())
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.moveReported(dsn.ID, moved) }); err != nil {
		t.Fatal(err)
	}
	if got := indexOf(t, s, m.ID); len(got) != 1 || got[0] != moved {
		t.Fatalf("index of %s after the move: %v; want [%s]", m.ID, got, moved)
	}
	// The index lost, and a stale entry: the Open rebuilds it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketDSNReportedBy); err != nil {
			return err
		}
		ix, err := tx.CreateBucket(bucketDSNReportedBy)
		if err != nil {
			return err
		}
		return ix.Put(reportedByKey(m.ID, dsn.ID), []byte{}) // names no entry
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := indexOf(t, s, m.ID); len(got) != 1 || got[0] != moved {
		t.Fatalf("index of %s after the Open: %v; want [%s]", m.ID, got, moved)
	}
	n := 0
	if err := s.View(func(tx *Tx) error {
		return tx.tx.Bucket(bucketDSNReportedBy).ForEach(func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if n != 11 {
		t.Fatalf("the rebuilt index holds %d entries, want 11 (one per dsnreported entry)", n)
	}
	// Its entry goes with the entry (dropReported).
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.dropReported(moved) }); err != nil {
		t.Fatal(err)
	}
	if got := indexOf(t, s, m.ID); len(got) != 0 {
		t.Fatalf("index of %s after the entry went: %v; want none", m.ID, got)
	}
}

func indexOf(t *testing.T, s *Store, orig ID) []ID {
	t.Helper()
	var got []ID
	if err := s.View(func(tx *Tx) error { got = tx.reportedDSNsOf(orig); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}
