package queue

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A body this release stored with its checksum whose bodysums entry is
// gone from the real file (a lost write, a tool's delete) is not an
// older release's unchecked body: its record says the checksum was
// written (BodySummed, flag bit 512), so the body cannot be vouched for
// and is read as unreadable ("its checksum is missing"), never
// delivered — held as poison or given to the holder of a sound copy,
// like a body that fails its checksum; UncheckedIn does not count it as
// an older release's, and db verify names it. A body whose record does
// not say so (an older release's) is still read unchecked.
func TestBodyChecksumMissingIsNotUnchecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 2)
	lost, old := ids[0], ids[1]
	s.Close()

	// Edit the closed file: lost's entry deleted; old as an older
	// release wrote it (no entry, a record without the bit).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(btx *bolt.Tx) error {
		sums := btx.Bucket(bucketBodySums)
		for _, id := range []ID{lost, old} {
			if sums.Get(refKey(refMessage, id.Key())) == nil {
				t.Fatalf("%s stored without its checksum", id)
			}
			if err := sums.Delete(refKey(refMessage, id.Key())); err != nil {
				return err
			}
		}
		m, err := decodeMessage(btx.Bucket(bucketMessages).Get(old.Key()))
		if err != nil {
			return err
		}
		m.BodySummed = false
		return btx.Bucket(bucketMessages).Put(old.Key(), m.encode())
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if u, err := UncheckedIn(path); err != nil || u.Bodies != 1 {
		t.Fatalf("unchecked %+v %v, want 1 body (the older release's)", u, err)
	}
	// What db verify reports of a backup holding it (checkRecords, as
	// VerifyBackup runs it).
	var verr error
	if db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true}); err != nil {
		t.Fatal(err)
	} else {
		db.View(func(btx *bolt.Tx) error { verr = checkRecords(btx); return nil })
		db.Close()
	}
	if err := verr; err == nil || !strings.Contains(err.Error(), "message "+lost.String()+": its body") ||
		!strings.Contains(err.Error(), "checksum is missing") {
		t.Fatalf("db verify: %v, want the body of %s named with its checksum missing", err, lost)
	}

	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Body
	s.View(func(tx *Tx) error { b, err = tx.BodyOf(lost); return err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bytes(); !errors.Is(err, ErrBodyUnreadable) || !errors.Is(err, ErrBodyChecksum) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("body whose checksum vanished read whole: %v, want ErrBodyUnreadable, ErrBodyChecksum, missing", err)
	}
	s.View(func(tx *Tx) error { b, err = tx.BodyOf(old); return err })
	if _, err := b.Bytes(); err != nil {
		t.Fatalf("an older release's body: %v, want it read unchecked", err)
	}

	q, _, stop := startReading(s)
	defer stop()
	waitFor(t, "the body without its checksum held, the older one delivered", func() bool {
		m, err := q.Message(lost)
		return err == nil && m.State == Poison && len(messages(t, s)) == 1 // the older one delivered
	})
	if m, _ := q.Message(lost); !strings.Contains(m.LastError, "checksum is missing") {
		t.Fatalf("held with %q", m.LastError)
	}
}
