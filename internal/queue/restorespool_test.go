package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bodyDelivererFunc is a BodyDeliverer: the scheduler hands it the Body
// as stored, so a test sees whether it is spooled.
type bodyDelivererFunc func(ctx context.Context, m *Message, body Body, rcpts []int) []Result

func (f bodyDelivererFunc) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	panic("the scheduler must prefer DeliverBody")
}

func (f bodyDelivererFunc) DeliverBody(ctx context.Context, m *Message, body Body, rcpts []int) []Result {
	return f(ctx, m, body, rcpts)
}

// startReading starts a manager of s whose deliverer reads each body
// whole, as a delivery does: it relays a message it could read and
// defers, with the reply the queue gives an unreadable body, one it could
// not. delivered returns the ids of the messages it relayed; stop ends
// the manager.
func startReading(s *Store) (q *Manager, delivered func() []ID, stop func()) {
	var mu sync.Mutex
	var ids []ID
	d := bodyDelivererFunc(func(ctx context.Context, m *Message, body Body, rcpts []int) []Result {
		var res []Result
		r, err := body.Reader()
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		for _, i := range rcpts {
			if err != nil {
				res = append(res, Result{Rcpt: i, Outcome: Deferred, Reply: UnreadableReply(err)})
			} else {
				res = append(res, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 2.0.0 ok"})
			}
		}
		if err == nil {
			mu.Lock()
			ids = append(ids, m.ID)
			mu.Unlock()
		}
		return res
	})
	q = NewManager(s, d, ManagerConfig{Hostname: "mx.test"})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	delivered = func() []ID {
		mu.Lock()
		defer mu.Unlock()
		return append([]ID(nil), ids...)
	}
	return q, delivered, func() { cancel(); q.Wait() }
}

const testThreshold = 256 << 10

// restoredStore writes a database with a spooled message and a spooled
// dumpster copy of the same body, a small message, and a large body
// stored whole (as a release before streaming stored it), backs it up,
// restores the backup into a new data directory and opens it.
func restoredStore(t *testing.T) (r *Store, big, small, whole ID, dump DumpsterKey, bigBody, wholeBody []byte) {
	t.Helper()
	s := openTest(t)
	ctx := context.Background()
	bigBody = bigContent(700 << 10)
	b := spooled(t, s, bigBody)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	big = m.ID
	dump = DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNewBody(m, b); err != nil {
			return err
		}
		return tx.DumpsterPutBody(dump, m, b)
	}); err != nil {
		t.Fatal(err)
	}
	sm := msg(s, "a@example.org", "b@example.test")
	sm.State, sm.NextAttempt = Ready, time.Now().Add(time.Hour)
	small = sm.ID
	wholeBody = append(bigContent(400<<10), "whole\r\n"...)
	wm := msg(s, "a@example.org", "b@example.test")
	wm.State, wm.NextAttempt = Ready, time.Now().Add(time.Hour)
	whole = wm.ID
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNew(sm, []byte("From: a@example.org\r\n\r\nsmall\r\n")); err != nil {
			return err
		}
		return tx.PutNew(wm, wholeBody)
	}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	backup := filepath.Join(other, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(other, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	if _, err := RestoreWith(backup, live, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, big, small, whole, dump, bigBody, wholeBody
}

func readAllBody(t *testing.T, b Body) []byte {
	t.Helper()
	rd, err := b.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	out, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A restored database holds every body over the spool threshold in a
// spool file again, as the database the backup was taken of did: the
// database keeps only a head, the copies of one body share one file
// (counted once per reference), a small body stays whole, and a large
// body a release before streaming stored whole is spooled too.
func TestRestoreSpoolsLargeBodiesAgain(t *testing.T) {
	r, big, small, whole, dump, bigBody, wholeBody := restoredStore(t)
	if len(r.MissingSpool()) != 0 {
		t.Fatalf("restored database names missing spool files: %v", r.MissingSpool())
	}
	err := r.View(func(tx *Tx) error {
		b, err := tx.BodyOf(big)
		if err != nil {
			return err
		}
		if !b.Spooled() {
			t.Errorf("restored body of %d bytes is held in the database, not in a spool file", b.Len())
		} else {
			if !bytes.Equal(readAllBody(t, b), bigBody) {
				t.Errorf("restored spooled body differs")
			}
			if n := tx.SpoolRefs(b); n != 2 {
				t.Errorf("references to the restored file: %d, want 2 (message and dumpster copy)", n)
			}
		}
		if v := tx.bodies.Get(big.Key()); len(v) > testThreshold {
			t.Errorf("the database holds %d bytes of the restored body", len(v))
		}
		d, err := tx.DumpsterBodyOf(dump)
		if err != nil {
			return err
		}
		if !d.Spooled() || !bytes.Equal(readAllBody(t, d), bigBody) {
			t.Errorf("restored dumpster copy: spooled %v", d.Spooled())
		}
		bp, _, _ := b.File()
		dp, _, _ := d.File()
		if bp != dp {
			t.Errorf("message and dumpster copy of one body in two files: %s, %s", bp, dp)
		}
		if st := tx.DumpsterStat("DB1"); st.Bytes != int64(len(bigBody)) {
			t.Errorf("restored dumpster bytes %d", st.Bytes)
		}
		w, err := tx.BodyOf(whole)
		if err != nil {
			return err
		}
		if !w.Spooled() || !bytes.Equal(readAllBody(t, w), wholeBody) {
			t.Errorf("a large body stored whole before the backup: spooled %v after restore", w.Spooled())
		}
		sb, err := tx.BodyOf(small)
		if err != nil {
			return err
		}
		if sb.Spooled() {
			t.Errorf("a small body was spooled")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(spoolFiles(t, r)); n != 2 {
		t.Errorf("spool files after restore: %d, want 2", n)
	}
	// The pages the bodies held are not kept in the restored file.
	if fi, err := os.Stat(r.db.Path()); err != nil || fi.Size() > 1<<20 {
		t.Errorf("restored database file: %v bytes (%v), after moving %d bytes of bodies out", fi.Size(), err, len(bigBody)+len(wholeBody))
	}
	// Delivery streams them from their files, and the files go with the
	// last reference.
	got := make(chan int64, 3)
	q := NewManager(r, bodyDelivererFunc(func(ctx context.Context, m *Message, body Body, rcpts []int) []Result {
		if m.ID != small && !body.Spooled() {
			t.Errorf("message %s handed to delivery in memory (%d bytes)", m.ID, body.Len())
		}
		got <- body.Len()
		out := make([]Result, 0, len(rcpts))
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"})
		}
		return out
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if err := r.Update(ctx, func(tx *Tx) error {
		for _, id := range []ID{big, small, whole} {
			m, err := tx.Get(id)
			if err != nil {
				return err
			}
			m.NextAttempt = time.Now()
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case <-time.After(20 * time.Second):
			t.Fatal("restored messages not delivered")
		}
	}
	waitFor(t, "the messages to leave", func() bool { return len(messages(t, r)) == 0 })
	waitFor(t, "only the dumpster copy's file to stay", func() bool { return len(spoolFiles(t, r)) == 1 })
}

// Delivering restored large messages allocates far less than their
// bodies: nothing reads them whole into memory.
func TestRestoredDeliveryAllocatesLessThanBodies(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n, size = 6, 2 << 20
	content := bigContent(size)
	for i := 0; i < n; i++ {
		b := spooled(t, s, content)
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
			t.Fatal(err)
		}
	}
	other := t.TempDir()
	backup := filepath.Join(other, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(other, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	if _, err := RestoreWith(backup, live, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan struct{}, n)
	q := NewManager(r, bodyDelivererFunc(func(ctx context.Context, m *Message, body Body, rcpts []int) []Result {
		rd, err := body.Reader()
		if err == nil {
			io.Copy(io.Discard, rd)
			rd.Close()
		}
		done <- struct{}{}
		return []Result{{Rcpt: 0, Outcome: RelayedOK, Reply: "250 ok"}}
	}), ManagerConfig{})
	ms := messages(t, r)
	if err := r.Update(ctx, func(tx *Tx) error {
		for _, m := range ms {
			m.NextAttempt = time.Now()
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	qctx, cancel := context.WithCancel(ctx)
	q.Start(qctx)
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("restored messages not delivered")
		}
	}
	waitFor(t, "the messages to leave", func() bool { return len(messages(t, r)) == 0 })
	cancel()
	q.Wait()
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > n*size/2 {
		t.Fatalf("delivering %d restored messages of %d bytes allocated %d bytes: their bodies were read into memory", n, size, alloc)
	}
}

// What a restore killed before it replaced the database left beside it
// (its copy, its staging spool directory) is removed at the next Open,
// which names it, and the database it did not replace is intact.
func TestOpenRemovesKilledRestoreLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := spooled(t, s, bigContent(300<<10))
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.WriteFile(path+".restore", bytes.Repeat([]byte{1}, 1<<20), 0o600)
	os.Mkdir(filepath.Join(dir, "spool.restore"), 0o700)
	os.WriteFile(filepath.Join(dir, "spool.restore", "0123456789ab"), []byte("body"), 0o600)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Leftovers(); len(got) != 2 {
		t.Errorf("leftovers named: %v", got)
	}
	for _, p := range []string{path + ".restore", filepath.Join(dir, "spool.restore")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	if len(s.MissingSpool()) != 0 || len(spoolFiles(t, s)) != 1 {
		t.Errorf("the database's own spool file: missing %v, files %v", s.MissingSpool(), spoolFiles(t, s))
	}
}

// A restore killed after the restored file took the database's name but
// before its spool directory took spool's: the first Open finishes it
// (the replaced spool directory moved aside, not swept), and every
// body is there.
func TestOpenFinishesInterruptedRestore(t *testing.T) {
	s := openTest(t)
	content := bigContent(600 << 10)
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	// Back to the state between the two renames, with the replaced
	// database's spool directory (one file) in place.
	spool := filepath.Join(dir, "data", "spool")
	if err := os.Rename(spool, spool+".restore"); err != nil {
		t.Fatal(err)
	}
	// Its id marker, as the restore left it there (markRestoreIn; the
	// install removes it once the directory is in place).
	db, err := bolt.Open(live, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		return os.WriteFile(filepath.Join(spool+".restore", restoreIDMarker), tx.Bucket(bucketMeta).Get(keyRestoreID), 0o644)
	})
	db.Close()
	os.Mkdir(spool, 0o700)
	os.WriteFile(filepath.Join(spool, "0123456789ab"), []byte("old body"), 0o600)
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.MissingSpool()) != 0 || r.RestoredFrom() == "" {
		t.Fatalf("missing %v, restored from %q", r.MissingSpool(), r.RestoredFrom())
	}
	r.View(func(tx *Tx) error {
		got, err := tx.BodyOf(m.ID)
		if err != nil || !got.Spooled() || !bytes.Equal(readAllBody(t, got), content) {
			t.Errorf("restored body: spooled %v, %v", got.Spooled(), err)
		}
		return nil
	})
	aside, _ := filepath.Glob(spool + ".replaced-*")
	if len(aside) != 1 {
		t.Fatalf("replaced spool directory: %v", aside)
	}
	if _, err := os.Stat(filepath.Join(aside[0], "0123456789ab")); err != nil {
		t.Errorf("the replaced database's spool file was not kept: %v", err)
	}
}

// A database that holds a large body whole (written before large
// messages were streamed) has it moved into a spool file by a
// compaction; a small one stays whole.
func TestCompactSpoolsLargeWholeBodies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	content := bigContent(500 << 10)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	sm := msg(s, "a@example.org", "b@example.test")
	sm.State, sm.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(sm, []byte("From: a@example.org\r\n\r\nsmall\r\n")); err != nil {
			return err
		}
		return tx.PutNew(m, content)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := CompactSpooling(path, testThreshold); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.MissingSpool()) != 0 || len(spoolFiles(t, s)) != 1 {
		t.Fatalf("missing %v, files %v", s.MissingSpool(), spoolFiles(t, s))
	}
	s.View(func(tx *Tx) error {
		b, err := tx.BodyOf(m.ID)
		if err != nil || !b.Spooled() || !bytes.Equal(readAllBody(t, b), content) {
			t.Errorf("compacted large body: spooled %v, %v", b.Spooled(), err)
		}
		if n := tx.SpoolRefs(b); n != 1 {
			t.Errorf("references %d", n)
		}
		sb, _ := tx.BodyOf(sm.ID)
		if sb.Spooled() {
			t.Error("small body spooled")
		}
		return nil
	})
}

// A restore compacts the copy it puts in place whether or not it moved
// bodies into spool files (README: "compacts the copy … queue.db does
// not keep their pages"): a backup of a database whose messages left
// it carries their free pages, and the restored queue.db does not
// (fixd19: a 78.2 MiB backup restored as 82 MB, 16 MiB once compacted).
func TestRestoreCompactsWithoutSpooledBodies(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	filler := bigContent(16 << 10) // under the spool threshold: stored whole
	var ids []ID
	for range 8 {
		if err := s.Update(ctx, func(tx *Tx) error {
			for range 32 {
				m := txMsg(tx, "a@example.org", "b@example.test")
				m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
				ids = append(ids, m.ID)
				if err := tx.PutNew(m, filler); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, id := range ids[1:] { // one stays
			if err := tx.Delete(id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	backup := filepath.Join(other, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(other, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	if _, err := RestoreWith(backup, live, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	bi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	ri, err := os.Stat(live)
	if err != nil {
		t.Fatal(err)
	}
	if bi.Size() < 4<<20 || ri.Size() > bi.Size()/4 {
		t.Fatalf("backup %d bytes restored as %d bytes; want the free pages of 255 removed messages of 16 KiB gone", bi.Size(), ri.Size())
	}
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.View(func(tx *Tx) error { _, err := tx.Get(ids[0]); return err }); err != nil {
		t.Fatalf("the message kept, restored: %v", err)
	}
}

// A backup written through a temporary file beside it names, when it
// fails, the file the operator gave, never the temporary one (README:
// file errors name what the operator gave; fixd19: `db backup
// /nodir/b.db` said `open /nodir/.b.db.partial-…`).
func TestSaveBackupErrorNamesTheFileGiven(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodir", "b.db")
	_, err := SaveBackup(path, func(w io.Writer) (int64, error) { return 0, nil })
	if err == nil || strings.Contains(err.Error(), ".partial") || !strings.Contains(err.Error(), "backup "+path+": ") ||
		!strings.Contains(err.Error(), "the directory "+filepath.Dir(path)+" does not exist") {
		t.Fatalf("backup into a missing directory: %v; want it to name %s and its missing directory", err, path)
	}
	if err := CheckBackupTarget(path); err == nil || err.Error() != "backup "+path+": the directory "+filepath.Dir(path)+" does not exist" {
		t.Fatalf("CheckBackupTarget of a file in a missing directory: %v", err)
	}
	dir := t.TempDir()
	path = filepath.Join(dir, "b.db")
	_, err = SaveBackup(path, func(w io.Writer) (int64, error) { return 0, errors.New("the copy broke") })
	if err == nil || strings.Contains(err.Error(), ".partial") || !strings.Contains(err.Error(), "backup "+path+": ") {
		t.Fatalf("a failed copy: %v; want it to name %s", err, path)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
}
