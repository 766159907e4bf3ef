package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// putDue stores n messages due now, each with one recipient, and returns
// their ids.
func putDue(t *testing.T, s *Store, n int) []ID {
	t.Helper()
	var ids []ID
	for i := 0; i < n; i++ {
		m := msg(s, "a@example.org", "b@example.net", "c@example.net")
		m.State, m.NextAttempt = Ready, time.Now().Add(-time.Second)
		m.LastError = "a reply long enough that the record spans more than a few bytes of its page"
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// recordOffset is where the record of id lies in the database file:
// its value as bbolt maps it, less the mapping's start.
func recordOffset(t *testing.T, s *Store, id ID) (off int64, rec []byte) {
	t.Helper()
	s.View(func(tx *Tx) error {
		v := tx.messages.Get(id.Key())
		rec = bytes.Clone(v)
		off = int64(uintptr(unsafe.Pointer(&v[0])) - s.db.Info().Data)
		return nil
	})
	// The value's place in the mapping is its place in the file; where
	// that does not hold (seen once: an offset outside the file), the
	// record is looked for in the file, where it must be found once (a
	// freed page can hold an older copy).
	data, err := os.ReadFile(s.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if off >= 0 && off+int64(len(rec)) <= int64(len(data)) && bytes.Equal(data[off:off+int64(len(rec))], rec) {
		return off, rec
	}
	// A small bucket is kept inline in its parent's page, and bbolt reads
	// an inline bucket at an unaligned place from a copy: the record is
	// then looked for in the file, on a page in use (a freed page can
	// hold an older copy of the same bytes).
	var live []int
	for i := 0; len(rec) > 0; {
		j := bytes.Index(data[i:], rec)
		if j < 0 {
			break
		}
		at := i + j
		s.db.View(func(btx *bolt.Tx) error {
			if p, err := btx.Page(at / btx.DB().Info().PageSize); err == nil && p != nil && p.Type != "free" {
				live = append(live, at)
			}
			return nil
		})
		i = at + 1
	}
	if len(live) != 1 {
		t.Fatalf("the record of %s is not at its place in the mapping (offset %d) nor on one page in use in the file (%v)", id, off, live)
	}
	return int64(live[0]), rec
}

// recordOffsetClosed is recordOffset for the closed database at path,
// read through a mapping of its own.
func recordOffsetClosed(t *testing.T, path string, id ID) (off int64, rec []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMessages).Get(id.Key())
		rec = bytes.Clone(v)
		off = int64(uintptr(unsafe.Pointer(&v[0])) - db.Info().Data)
		return nil
	})
	return off, rec
}

// damageInFile overwrites 20 bytes of the record rec at off, after its
// version byte (the varints of its id, state and sender), in the closed database file at path, as a disk or an editor
// would: the file itself, not through bbolt.
func damageInFile(t *testing.T, path string, off int64, rec []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(rec))
	if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("the record is not at offset %d: %v", off, err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 20), off+1); err != nil {
		t.Fatal(err)
	}
}

// One record damaged in the file, the daemon stopped (rt45 F1): the
// start sets it aside, the rest of the queue is delivered, every count
// names it, the operator sees it damaged with its size, may export its
// body and remove it, and nothing else acts on it.
func TestDamagedRecordSetAsideAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 5)
	bad := ids[2]
	off, rec := recordOffset(t, s, bad)
	s.Close()
	damageInFile(t, path, off, rec)

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("a start with one damaged record: %v", err)
	}
	defer s.Close()
	if got := s.DamagedAtOpen(); len(got) != 1 || got[0].ID != bad || len(got[0].Raw) != len(rec) {
		t.Fatalf("set aside at open: %+v, want %s of %d bytes", got, bad, len(rec))
	}
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 ok" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	for range 4 {
		if id := d.wait(t); id == bad {
			t.Fatalf("the damaged record %s was attempted", bad)
		}
	}
	waitFor(t, "the four sound messages delivered", func() bool { return len(messages(t, s)) == 0 })

	checkOneDamaged(t, q, bad, len(rec))
	if b, err := q.Body(bad); err != nil || string(b) != body {
		t.Fatalf("export of the damaged record's body: %q, %v", b, err)
	}
	if err := q.SuspendMessage(ctx, bad); !errors.Is(err, ErrDamagedRecord) {
		t.Fatalf("suspend of a damaged record: %v, want ErrDamagedRecord", err)
	}
	if err := q.RemoveMessage(ctx, bad, true); err != nil {
		t.Fatalf("remove of a damaged record: %v", err)
	}
	if ms, _ := q.Messages(MessageFilter{}); len(ms) != 0 {
		t.Fatalf("after its removal message list shows %d", len(ms))
	}
	if qs, _ := q.Queues(); len(qs) != 0 {
		t.Fatalf("after its removal queue list shows %+v", qs)
	}
	s.View(func(tx *Tx) error {
		if v := tx.bodies.Get(bad.Key()); v != nil {
			t.Error("the body of the removed damaged record is still stored")
		}
		return nil
	})
}

// checkOneDamaged: message list, message show, queue list and the
// queue index (the metrics' source) all show the one damaged record.
func checkOneDamaged(t *testing.T, q *Manager, bad ID, size int) {
	t.Helper()
	ms, err := q.Messages(MessageFilter{})
	if err != nil || len(ms) != 1 || ms[0].ID != bad || ms[0].State != Damaged {
		t.Fatalf("message list: %v %v, want only %s damaged", ms, err, bad)
	}
	if ms, _ := q.Messages(MessageFilter{Queue: QueueDamaged, State: "damaged"}); len(ms) != 1 {
		t.Fatalf("message list --queue damaged --state damaged: %d", len(ms))
	}
	m, err := q.Message(bad)
	if err != nil || m.State != Damaged || m.Size != int64(size) || m.LastError == "" {
		t.Fatalf("message show: %+v, %v", m, err)
	}
	qs, err := q.Queues()
	if err != nil || len(qs) != 1 || qs[0].Name != QueueDamaged || qs[0].Count != 1 || qs[0].Status != "damaged" ||
		qs[0].ByState["damaged"] != 1 {
		t.Fatalf("queue list: %+v, %v", qs, err)
	}
}

// A record damaged after Open read it is set aside by the claim that
// meets it, and an index entry naming no record is dropped there: the
// other due messages of the batch are delivered, nothing spins.
func TestDamagedRecordSetAsideAtClaim(t *testing.T) {
	s := openTest(t)
	ids := putDue(t, s, 4)
	bad := ids[1]
	var garbage []byte
	if err := s.db.Update(func(btx *bolt.Tx) error {
		v := btx.Bucket(bucketMessages).Get(bad.Key())
		garbage = append([]byte{v[0]}, bytes.Repeat([]byte{0xff}, len(v)-1)...)
		if err := btx.Bucket(bucketMessages).Put(bad.Key(), garbage); err != nil {
			return err
		}
		return btx.Bucket(bucketSchedule).Put(scheduleKey(time.Now().Add(-time.Minute), ID(12345)), nil) // no record
	}); err != nil {
		t.Fatal(err)
	}
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 ok" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	for range 3 {
		if id := d.wait(t); id == bad {
			t.Fatalf("the damaged record %s was attempted", bad)
		}
	}
	waitFor(t, "the sound messages delivered", func() bool { return len(messages(t, s)) == 0 })
	checkOneDamaged(t, q, bad, len(garbage))
	s.View(func(tx *Tx) error {
		if n := len(tx.Due(time.Now().Add(time.Hour), 10)); n != 0 {
			t.Errorf("%d schedule entries left", n)
		}
		if v := tx.tx.Bucket(bucketDamaged).Get(bad.Key()); !bytes.Equal(v, garbage) {
			t.Errorf("the damaged record is not kept byte for byte: %x", v)
		}
		return nil
	})
}

// A backup of a database holding a record that does not decode matches
// its checksums (the record was stored so): db verify must still not
// call it sound, and must name the record; restore restores it, and
// the restored database's start sets the record aside (rt45 F1).
func TestVerifyNamesDamagedRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 3)
	bad := ids[1]
	if err := s.db.Update(func(btx *bolt.Tx) error { // damaged after the open, before the backup
		return btx.Bucket(bucketMessages).Put(bad.Key(), []byte{2, 0xff, 0xff})
	}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = VerifyBackup(backup)
	var rd *RecordDamage
	if !errors.As(err, &rd) || !strings.Contains(err.Error(), "message "+bad.String()+": its record does not decode") {
		t.Fatalf("verify of a backup with a damaged record: %v", err)
	}
	target := filepath.Join(dir, "restored", "queue.db")
	os.MkdirAll(filepath.Dir(target), 0o700)
	if _, err := Restore(backup, target); err != nil {
		t.Fatalf("restore of a backup whose only damage is a record stored so: %v", err)
	}
	r, err := Open(target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.DamagedAtOpen(); len(got) != 1 || got[0].ID != bad {
		t.Fatalf("restored start set aside %+v, want %s", got, bad)
	}
	n := 0
	r.View(func(tx *Tx) error { tx.ForEach(func(*Message, error) bool { n++; return true }); return nil })
	if n != 2 {
		t.Fatalf("%d sound messages restored, want 2", n)
	}
}

// The key of a record overwritten in the file (its value whole), still
// in order between its neighbours (a key out of order makes bbolt's own
// walk at open panic in a goroutine of its own: not umbra's to catch):
// the record names another id than its key. Open sets it aside under
// the key it found, drops the index entries of the id it named, which
// no record holds now, and the rest is delivered.
func TestDamagedKeySetAsideAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := putDue(t, s, 5)
	bad := ids[2]
	off, rec := recordOffset(t, s, bad)
	s.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 8)
	f.ReadAt(key, off-8)
	if !bytes.Equal(key, bad.Key()) {
		t.Fatalf("the key is not before the value: %x", key)
	}
	wantID := bad + 1
	if wantID >= ids[3] {
		t.Skip("no id free between the damaged record and the next")
	}
	f.WriteAt(wantID.Key(), off-8)
	f.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("a start with one damaged key: %v", err)
	}
	defer s.Close()
	if got := s.DamagedAtOpen(); len(got) != 1 || got[0].ID != wantID || !bytes.Equal(got[0].Raw, rec) {
		t.Fatalf("set aside at open: %+v", got)
	}
	d := newScripted(func(string, int) (Outcome, string) { return RelayedOK, "250 2.0.0 ok" })
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the four sound messages delivered", func() bool { return len(messages(t, s)) == 0 })
	checkOneDamaged(t, q, wantID, len(rec))
	s.View(func(tx *Tx) error {
		if n := len(tx.Due(time.Now().Add(time.Hour), 10)); n != 0 {
			t.Errorf("%d schedule entries left", n)
		}
		return nil
	})
}
