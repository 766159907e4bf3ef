package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SR-4, SR-7: the holder fold points the records
// naming an alias spelling of z's database at z (pointRecordsAt), but a
// failure DSN's dsnreported entry, written before the fold, still names
// the alias spelling as the copy's server. The original's end then no
// longer finds that DSN to carry the discard (earlyDSNCarries compares
// the entry's server with the record's, now z): the full discard is
// written at once while the DSN is on this disk alone. And the DSN's
// departure files the partial discard under the name's own server (no
// copy there), not z, which keeps the failed recipients.
func TestSR7FoldedAliasReportedDSNStillCarries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "copy-r",
		ShadowServer: "hub-b.example.", ShadowID: "copy-r", NextAttempt: time.Unix(1e9, 0),
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}, {Addr: "c@example.net", Status: Failed}}}
	dm := &Message{ID: s.NewID(now), State: Ready, From: "", Internal: true, Connector: "dsn",
		NextAttempt: time.Unix(1e9, 0), Rcpts: []Recipient{{Addr: "a@example.org", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		if err := tx.Put(dm); err != nil {
			return err
		}
		return tx.noteReported(dm.ID, m.ID, m.OrgID, m.ShadowServer, m.ShadowID, []string{"c@example.net"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		for _, kv := range [][3]any{
			{bucketHolders, "hub-b.example", "db-b"},
			{bucketHolders, "z.example", "db-z"},
			{bucketHolderMarks, "\x01hub-b.example.", "db-z"},
		} {
			if err := btx.Bucket(kv[0].([]byte)).Put([]byte(kv[1].(string)), []byte(kv[2].(string))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.View(func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameServer(got.ShadowServer, "z.example") {
			t.Fatalf("record's copy holder %q after the fold; want z.example", got.ShadowServer)
		}
		_, _, entries, ok := tx.reportedOf(dm.ID)
		if !ok || len(entries) != 1 || !sameServer(entries[0].server, "z.example") {
			t.Errorf("the DSN's reported entry after the fold: %+v; want it to name z.example, the copy's holder (its partial discard goes to the name's own server, which has no copy-r)", entries)
		}
		return nil
	})
	// The original ends: the DSN still here must carry the discard.
	_ = s.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Rcpts[0].Status = Delivered
		_, ok, err := tx.earlyDSNCarries(got)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("the original's end after the fold: its failure DSN does not carry the discard; the full discard is written while the DSN is on this disk alone")
		}
		return errRollbackTest
	})
}

var errRollbackTest = errorString("rollback")

type errorString string

func (e errorString) Error() string { return string(e) }

// SR-7 (a sibling): a copy of m pushed under the
// alias spelling of z's database without confirmation (the mark's pushed
// list: it may be on z). The fold points m's record at z but leaves the
// mark naming the spelling: the copy made again elsewhere then files the
// discard of that push under the name's own server, not z, which keeps
// copy-r for ever and delivers it again at a takeover.
func TestSR7FoldedAliasPushedListStillGetsItsDiscard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := &Message{ID: s.NewID(now), State: Ready, From: "a@example.org", OrgID: "copy-r",
		ShadowServer: "hub-b.example.", ShadowID: "copy-r", NextAttempt: time.Unix(1e9, 0),
		Rcpts: []Recipient{{Addr: "b@example.net", Status: Pending}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.markSingleKind(m.ID, "hub-b.example.", now, []string{"hub-b.example."})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(btx *bolt.Tx) error {
		for _, kv := range [][3]any{
			{bucketHolders, "hub-b.example", "db-b"},
			{bucketHolders, "z.example", "db-z"},
			{bucketHolderMarks, "\x01hub-b.example.", "db-z"},
		} {
			if err := btx.Bucket(kv[0].([]byte)).Put([]byte(kv[1].(string)), []byte(kv[2].(string))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		return tx.nameCopyHolder(got, "y.example", now)
	}); err != nil {
		t.Fatal(err)
	}
	_ = s.View(func(tx *Tx) error {
		var keys []string
		_ = tx.tx.Bucket(bucketDiscards).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
		found := false
		for _, k := range keys {
			if k == "z.example\x00copy-r" {
				found = true
			}
		}
		if !found {
			t.Errorf("discards after the copy was made on y: %q; want copy-r's owed to z.example (the push under the alias stored it in db-z)", keys)
		}
		return nil
	})
}
