package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// flipInFile changes the byte at off of the closed file at path (a
// disk's bit rot, or an editor), after checking that want is there.
func flipInFile(t *testing.T, path string, off int64, want []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%q is not at offset %d of %s: %q, %v", want, off, path, got, err)
	}
	if _, err := f.WriteAt([]byte{want[0] ^ 0x03}, off); err != nil {
		t.Fatal(err)
	}
}

// One byte of a recipient changed in the database file, the record
// still decoding (rt49 F3: dave@ became dbve@, the sender got a bounce
// for an address never used and the sound copy was discarded): the
// record's checksum fails, so it is set aside as damaged at Open, as
// a record that does not decode is, and nothing is delivered from it.
func TestRecordChecksumSetsAsideChangedByte(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Eight records: a bucket too large to be stored inline, whose
	// values bbolt maps from the file's own pages (recordOffsetClosed).
	ids := putDue(t, s, 8)
	bad := ids[1]
	s.Close()
	off, rec := recordOffsetClosed(t, path, bad)
	i := bytes.Index(rec, []byte("b@example.net"))
	if i < 0 {
		t.Fatalf("no recipient in the record %q", rec)
	}
	flipInFile(t, path, off+int64(i)+3, []byte("xample.net"))

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.DamagedAtOpen(); len(got) != 1 || got[0].ID != bad {
		t.Fatalf("set aside at open: %+v, want %s", got, bad)
	}
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 ok" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	for range 2 {
		if id := d.wait(t); id == bad {
			t.Fatalf("the changed record %s was attempted", bad)
		}
	}
	waitFor(t, "the sound messages delivered", func() bool { return len(messages(t, s)) == 0 })
	checkOneDamaged(t, q, bad, len(rec))
}

// A record an older release wrote (no checksum) is read as before,
// unchecked, and carries one once written again; the way back for a
// rollback (CompactTo version 4) writes every record without its
// checksum, readable by a release of version 4, and the schema number 4.
func TestRecordChecksumOlderRecordsAndRollback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 2)

	if err := s.db.Update(func(btx *bolt.Tx) error {
		v := btx.Bucket(bucketMessages).Get(ids[0].Key())
		rec, summed, err := checkRecordSum(v)
		if err != nil || !summed {
			t.Fatalf("a record written now: summed %v, %v", summed, err)
		}

		return btx.Bucket(bucketMessages).Put(ids[0].Key(), rec)
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		if m, err := tx.Get(ids[0]); err != nil || m.ID != ids[0] {
			t.Fatalf("an unchecked record: %+v, %v", m, err)
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
		if v := btx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != 4 {
			t.Errorf("schema version after compaction to 4: %v", v)
		}
		return btx.Bucket(bucketMessages).ForEach(func(k, v []byte) error {
			if recordIsSummed(v) || v[0] != recordVersion {
				t.Errorf("record %x of the version-4 copy: version byte %#x", k, v[0])
			}
			return nil
		})
	})
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(messages(t, s)) != 2 || len(s.DamagedAtOpen()) != 0 {
		t.Fatalf("after the round trip: %d messages, %d damaged", len(messages(t, s)), len(s.DamagedAtOpen()))
	}
}

// Eight bytes of a spool file overwritten, its length unchanged (rt49
// F3(a): delivered corrupted, no log line, the sound copy discarded):
// the body's checksum fails, so every reader of it fails with an error
// wrapping ErrBodyUnreadable before its end — a transfer is never
// completed with those bytes — and the attempt holds the message as
// poison, "body unreadable", the path that gives it to the holder of a
// sound copy (handback.go). A body whose file is whole is delivered.
func TestSpoolChecksumRefusesChangedBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	content := bigContent(300 << 10)
	put := func() (*Message, Body) {
		b := spooled(t, s, content)
		// A receiving server's edit: a new head over the file's start.
		b, err := b.WithHead([]byte("Received: by mx.test\r\n"), 0)
		if err != nil {
			t.Fatal(err)
		}
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(-time.Second)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	bad, bb := put()
	good, _ := put()
	p, _, _ := bb.File()
	flipInFile(t, p, 200010, content[200010:200011])

	var b Body
	s.View(func(tx *Tx) error { b, err = tx.BodyOf(bad.ID); return err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bytes(); !errors.Is(err, ErrBodyUnreadable) || !errors.Is(err, ErrBodyChecksum) {
		t.Fatalf("the changed body read whole: %v, want ErrBodyUnreadable and ErrBodyChecksum", err)
	}
	r, err := b.Reader()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, ErrBodyUnreadable) {
		t.Fatalf("the changed body streamed: %v, want ErrBodyUnreadable", err)
	}
	r.Close()

	q, relayed, stop := startReading(s)
	defer stop()
	waitFor(t, "the sound message delivered and the changed one held", func() bool {
		m, err := q.Message(bad.ID)
		return err == nil && m.State == Poison && len(messages(t, s)) == 1
	})
	m, _ := q.Message(bad.ID)
	if !strings.Contains(m.LastError, "body unreadable") || !strings.Contains(m.LastError, "checksum") {
		t.Fatalf("the changed body's message: %s %q", m.State, m.LastError)
	}
	delivered := relayed()
	if len(delivered) != 1 || delivered[0] != good.ID {
		t.Fatalf("delivered %v, want only %s", delivered, good.ID)
	}
}

// A backup reads every spooled body: one whose file changed on disk is
// not carried into it under checksums of the changed bytes (which
// restore would then trust): the backup fails, naming the file.
func TestSpoolChecksumBackupRefusesChangedBody(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	content := bigContent(300 << 10)
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteBackup(filepath.Join(dir, "sound.db")); err != nil {
		t.Fatalf("backup of a sound body: %v", err)
	}
	p, _, _ := b.File()
	flipInFile(t, p, 1000, content[1000:1001])
	var ub *UnreadableBodiesError
	if _, err := s.WriteBackup(filepath.Join(dir, "b.db")); !errors.As(err, &ub) || len(ub.Bodies) != 1 ||
		ub.Bodies[0].ID != m.ID || !strings.Contains(ub.Bodies[0].Problem, "changed on disk") {
		t.Fatalf("backup of a changed body: %v, want it named as unreadable, changed on disk", err)
	}
	if err := b.Check(); !errors.Is(err, ErrBodyChecksum) {
		t.Fatalf("Check (export, dumpster resubmit, remove): %v", err)
	}
}
