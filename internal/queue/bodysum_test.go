package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// bodyOffsetClosed is where, in the closed database file at path, the
// stored body (or head) of id begins, and its bytes.
func bodyOffsetClosed(t *testing.T, path string, id ID) (off int64, v []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		b := bodyValue(tx.Bucket(bucketBodies), id.Key())
		v = bytes.Clone(b)
		off = int64(uintptr(unsafe.Pointer(&b[0])) - db.Info().Data)
		return nil
	})
	return off, v
}

// One byte changed inside the database in a small body (stored whole)
// and in the head of a spooled one (a receiving server's edit, which
// the spool file's checksum does not cover): each body's checksum
// fails, so reading it fails with ErrBodyUnreadable and ErrBodyChecksum
// and the attempt holds the message as poison, "body unreadable" (the
// path that gives it to the holder of a sound copy); nothing goes out
// with those bytes. The sound messages are delivered. A body stored
// without a checksum (an older release's) is read as before.
func TestBodyChecksumInDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func(tx *Tx, b Body) *Message {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(-time.Second)
		if err := tx.PutNewBody(m, b); err != nil {
			t.Fatal(err)
		}
		return m
	}
	small := func(i int) []byte {
		return []byte(fmt.Sprintf("From: a@example.org\r\nSubject: small %d\r\n\r\n%s\r\n", i, strings.Repeat("body text ", 100)))
	}
	var ids []ID
	var spool *Message
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for i := range 8 {
			ids = append(ids, put(tx, MemBody(small(i))).ID)
		}
		b := spooled(t, s, bigContent(300<<10))
		b, err := b.WithHead([]byte("Received: by mx.test; a head of the receiving server\r\n"), 0)
		if err != nil {
			t.Fatal(err)
		}
		spool = put(tx, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	bad, old := ids[2], ids[5]
	// ids[5]: as an older release wrote it, without a checksum (and a
	// record that does not say it has one).
	if err := s.db.Update(func(btx *bolt.Tx) error {
		m, err := decodeMessage(btx.Bucket(bucketMessages).Get(old.Key()))
		if err != nil {
			return err
		}
		m.BodySummed = false
		if err := btx.Bucket(bucketMessages).Put(old.Key(), m.encode()); err != nil {
			return err
		}
		return btx.Bucket(bucketBodySums).Delete(refKey(refMessage, old.Key()))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	off, v := bodyOffsetClosed(t, path, bad)
	i := bytes.Index(v, []byte("small 2"))
	flipInFile(t, path, off+int64(i)+6, []byte("2"))
	off, v = bodyOffsetClosed(t, path, spool.ID)
	i = bytes.Index(v, []byte("receiving"))
	flipInFile(t, path, off+int64(i), []byte("r"))

	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []ID{bad, spool.ID} {
		var b Body
		s.View(func(tx *Tx) error { b, err = tx.BodyOf(id); return err })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Bytes(); !errors.Is(err, ErrBodyUnreadable) || !errors.Is(err, ErrBodyChecksum) {
			t.Fatalf("%s read whole: %v, want ErrBodyUnreadable and ErrBodyChecksum", id, err)
		}
		if r, err := b.Reader(); err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
			if !errors.Is(err, ErrBodyChecksum) {
				t.Fatalf("%s streamed: %v, want ErrBodyChecksum", id, err)
			}
		}
		if err := b.Check(); !errors.Is(err, ErrBodyChecksum) {
			t.Fatalf("%s Check (export, dumpster resubmit, remove): %v", id, err)
		}
	}

	q, relayed, stop := startReading(s)
	defer stop()
	waitFor(t, "the sound messages delivered and the changed ones held", func() bool {
		for _, id := range []ID{bad, spool.ID} {
			if m, err := q.Message(id); err != nil || m.State != Poison {
				return false
			}
		}
		return len(messages(t, s)) == 2
	})
	for _, id := range []ID{bad, spool.ID} {
		m, _ := q.Message(id)
		if !strings.Contains(m.LastError, "body unreadable") || !strings.Contains(m.LastError, "checksum") {
			t.Fatalf("%s: %s %q", id, m.State, m.LastError)
		}
	}
	delivered := relayed()
	if len(delivered) != 7 || !containsID(delivered, old) || containsID(delivered, bad) || containsID(delivered, spool.ID) {
		t.Fatalf("delivered %v: want the 7 sound ones, %s (unchecked) among them", delivered, old)
	}
}

func containsID(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Across a rollback: the previous release deletes a body without its
// checksum; the next Open here drops that checksum, so a body stored
// later under the key is not checked against it. The way back
// (CompactTo version 4) drops every body checksum, and a body read
// after that is unchecked, not refused.
func TestBodyChecksumSweptAndRolledBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 2)
	// The previous release's delete: the body alone.
	if err := s.db.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketBodies).Delete(ids[0].Key())
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.db.View(func(btx *bolt.Tx) error {
		sums := btx.Bucket(bucketBodySums)
		if sums.Get(refKey(refMessage, ids[0].Key())) != nil || sums.Get(refKey(refMessage, ids[1].Key())) == nil {
			t.Errorf("after Open: the orphan checksum kept, or the sound one dropped")
		}
		return nil
	})
	s.Close()
	if _, _, err := CompactTo(path, 0, 4); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(btx *bolt.Tx) error {
		if btx.Bucket(bucketBodySums) != nil {
			t.Errorf("the version-4 copy keeps body checksums")
		}
		// Nor does a record say its body has one (BodySummed): upgraded
		// again, the body would read as one whose checksum is missing.
		if m, err := decodeMessage(btx.Bucket(bucketMessages).Get(ids[1].Key())); err != nil || m.BodySummed {
			t.Errorf("the version-4 copy's record: %+v %v, want it without BodySummed", m, err)
		}
		return nil
	})
	db.Close()
	// Upgraded again by this release: the body reads, unchecked.
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b Body
	s.View(func(tx *Tx) error { b, err = tx.BodyOf(ids[1]); return err })
	if _, err := b.Bytes(); err != nil {
		t.Fatalf("after the way back and a new upgrade: %v, want the body read unchecked", err)
	}
}

// db verify counts what carries no checksum of its own (an older
// release's records and bodies), in a real backup, and reports a body
// whose own checksum fails although the backup's checksums match
// (changed on disk before the backup was written) as not sound.
func TestVerifyCountsUnchecked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := putDue(t, s, 4)
	if err := s.db.Update(func(btx *bolt.Tx) error {
		// ids[0]: its record as an older release wrote it; ids[1] and
		// ids[2]: their bodies.
		rec, _, err := checkRecordSum(btx.Bucket(bucketMessages).Get(ids[0].Key()))
		if err != nil {
			return err
		}
		if err := btx.Bucket(bucketMessages).Put(ids[0].Key(), rec); err != nil {
			return err
		}
		for _, id := range ids[1:3] {
			if err := btx.Bucket(bucketBodySums).Delete(refKey(refMessage, id.Key())); err != nil {
				return err
			}
			m, err := decodeMessage(btx.Bucket(bucketMessages).Get(id.Key())) // a record that says nothing of one
			if err != nil {
				return err
			}
			m.BodySummed = false
			if err := btx.Bucket(bucketMessages).Put(id.Key(), m.encode()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sound := filepath.Join(dir, "sound.db")
	if _, err := s.WriteBackup(sound); err != nil {
		t.Fatal(err)
	}
	if err := VerifyBackup(sound); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if u, err := UncheckedIn(sound); err != nil || u.Records != 1 || u.Bodies != 2 {
		t.Fatalf("unchecked in the backup: %+v, %v; want 1 record, 2 bodies", u, err)
	}
	// ids[3]'s checksum changed before the backup: its bytes and the
	// backup's checksums agree, its own checksum does not.
	if err := s.db.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketBodySums).Put(refKey(refMessage, ids[3].Key()), []byte{1, 2, 3, 4})
	}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.db")
	if _, err := s.WriteBackup(bad); err != nil {
		t.Fatal(err)
	}
	var rd *RecordDamage
	if err := VerifyBackup(bad); !errors.As(err, &rd) || !strings.Contains(err.Error(), ids[3].String()) ||
		!strings.Contains(err.Error(), "checksum") {
		t.Fatalf("verify of a backup holding a body changed before it: %v", err)
	}
}

// BenchmarkBodySumPut is the cost the body checksum adds to a receive
// commit's body put and to a claim's read: a PutNew of a 4 KiB and a
// 100 KiB body in a transaction that is rolled back (no disk write:
// what is measured is the work in memory), and checkHead of the body
// read back.
func BenchmarkBodySumPut(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, size := range []int{4 << 10, 100 << 10} {
		body := bigContent(size)
		b.Run(fmt.Sprintf("put/size=%dKiB", size>>10), func(b *testing.B) {
			for range b.N {
				btx, err := s.db.Begin(true)
				if err != nil {
					b.Fatal(err)
				}
				if err := putBodyValue(btx.Bucket(bucketBodies), refMessage, []byte("12345678"), body); err != nil {
					b.Fatal(err)
				}
				btx.Rollback()
			}
		})
		b.Run(fmt.Sprintf("check/size=%dKiB", size>>10), func(b *testing.B) {
			mb := MemBody(body)
			mb.sum, mb.summed = crc32.Checksum(body, castagnoli), true
			b.SetBytes(int64(size))
			for range b.N {
				if err := mb.checkHead(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
