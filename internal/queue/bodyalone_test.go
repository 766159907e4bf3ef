package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pageBytes is how many bytes of pages bbolt allocated (wrote) for the
// commit of fn: every node a commit changes is written whole.
func pageBytes(t *testing.T, s *Store, fn func(tx *Tx) error) int64 {
	t.Helper()
	st := s.db.Stats()
	before := st.TxStats.GetPageAlloc()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
	st = s.db.Stats()
	return st.TxStats.GetPageAlloc() - before
}

func numberedBody(i, n int) []byte {
	b := []byte(fmt.Sprintf("From: a@example.org\r\nSubject: %d\r\n\r\n", i))
	for len(b) < n {
		b = append(b, fmt.Sprintf("line %d of body %d\r\n", len(b), i)...)
	}
	return b
}

// Putting or deleting a body writes that body's pages and a few small
// ones (records, indexes, the body table's leaf of bucket headers),
// never the bodies stored beside it: with 100 KiB bodies as values of
// one table, each commit rewrote the one to three bodies sharing the
// changed body's leaf (bbolt splits no leaf of four values or fewer).
// The same for the dumpster's copies.
func TestBodyPutAndDeleteWriteNoOtherBody(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size = 100 << 10
	const small = 64 << 10 // what a commit may write besides the body: records, indexes, branch pages
	var ids []ID
	var keys []DumpsterKey
	for i := 0; i < 9; i++ {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		k := DumpsterKey{Database: "DB1", KeptAt: time.Unix(int64(1000+i), 0), ID: m.ID}
		body := numberedBody(i, size)
		n := pageBytes(t, s, func(tx *Tx) error {
			if err := tx.PutNew(m, body); err != nil {
				return err
			}
			return tx.DumpsterPut(k, m, body)
		})
		if i >= 4 && n > 2*size+2*small {
			t.Errorf("message %d: putting a body and its dumpster copy (%d bytes each) wrote %d bytes of pages", i, size, n)
		}
		ids, keys = append(ids, m.ID), append(keys, k)
	}
	for _, i := range []int{4, 1, 7} {
		if n := pageBytes(t, s, func(tx *Tx) error { return tx.Delete(ids[i]) }); n > small {
			t.Errorf("deleting message %d wrote %d bytes of pages: a neighbour's body was written again", i, n)
		}
		if n := pageBytes(t, s, func(tx *Tx) error { _, err := tx.DumpsterDelete(keys[i]); return err }); n > small {
			t.Errorf("deleting dumpster copy %d wrote %d bytes of pages: a neighbour's body was written again", i, n)
		}
	}
	s.View(func(tx *Tx) error {
		for i, id := range ids {
			b, err := tx.Body(id)
			d, derr := tx.DumpsterBody(keys[i])
			switch i {
			case 4, 1, 7:
				if err != ErrNotFound || tx.DumpsterHas(keys[i]) {
					t.Errorf("message %d deleted, still read: %v", i, err)
				}
			default:
				if err != nil || derr != nil || !bytes.Equal(b, numberedBody(i, size)) || !bytes.Equal(d, b) {
					t.Errorf("message %d: body of %d bytes (%v), dumpster copy %d bytes (%v)", i, len(b), err, len(d), derr)
				}
			}
		}
		if n := tx.tx.Bucket(bucketBodies).Stats().BucketN; n != 1+6 {
			t.Errorf("bodies holds %d buckets, want its 6 bodies each in its own", n-1)
		}
		return nil
	})
}

// A body of bodyAloneMin bytes or fewer stays a value of the body table
// (bbolt would keep so small a bucket inside the table's leaf anyway);
// a longer one is a bucket of its own; a body put again under the same
// key takes the form of its new length.
func TestBodyFormFollowsLength(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []int{0, 10, bodyAloneMin, bodyAloneMin + 1, 300 << 10} {
		m := msg(s, "a@example.org", "b@example.test")
		m.State = Ready
		body := numberedBody(n, n)[:n]
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, body) }); err != nil {
			t.Fatal(err)
		}
		s.View(func(tx *Tx) error {
			own := tx.bodies.Bucket(m.ID.Key()) != nil
			if own != (n > bodyAloneMin) {
				t.Errorf("a body of %d bytes: in a bucket of its own %v", n, own)
			}
			if got, err := tx.Body(m.ID); err != nil || !bytes.Equal(got, body) {
				t.Errorf("a body of %d bytes read back as %d bytes, %v", n, len(got), err)
			}
			return nil
		})
	}
	b := s.db.Update(func(btx *bolt.Tx) error {
		bodies := btx.Bucket(bucketBodies)
		key := []byte("k")
		for _, n := range []int{bodyAloneMin + 5000, 10, bodyAloneMin + 6000, 0} {
			v := numberedBody(n, n)[:n]
			if err := putBodyValue(bodies, refMessage, key, v); err != nil {
				return err
			}
			if got := bodyValue(bodies, key); got == nil || !bytes.Equal(got, v) {
				return fmt.Errorf("%d bytes put over the other form read back as %d", n, len(got))
			}
		}
		if err := deleteBodyValue(bodies, refMessage, key); err != nil {
			return err
		}
		if bodyValue(bodies, key) != nil {
			return fmt.Errorf("a deleted body is still read")
		}
		return nil
	})
	if b != nil {
		t.Fatal(b)
	}
}

// writeVersion3 makes the database at path what a release of schema
// version 3 left: every body a value of its table. It adds a queued
// message and a dumpster copy with bodies of size bytes and returns
// them.
func writeVersion3(t *testing.T, path string, size int) (ID, DumpsterKey, []byte) {
	t.Helper()
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	m.OrgID = strings.Repeat("ab", 16)
	s.Close()
	body := numberedBody(3, size)
	k := DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{3})
		wtx := wrapTx(tx)
		if err := wtx.Put(m); err != nil {
			return err
		}
		if err := tx.Bucket(bucketBodies).Put(m.ID.Key(), body); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDumpster).Put(k.bytes(), m.encode()); err != nil {
			return err
		}
		if err := tx.Bucket(bucketDumpBody).Put(k.bytes(), body); err != nil {
			return err
		}
		return wtx.addDumpsterStat(k.Database, 1, int64(len(body)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	return m.ID, k, body
}

// A file of schema version 3 (bodies as values) opens as version 4
// without a body rewritten; its bodies are read, delivered and deleted
// as they are, and bodies written from then on take buckets of their
// own.
func TestBodiesOfVersion3Read(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	id, k, body := writeVersion3(t, path, 100<<10)
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		if v := tx.tx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != schemaVersion {
			t.Errorf("schema version %v after open", v)
		}
		if tx.bodies.Get(id.Key()) == nil {
			t.Error("the upgrade rewrote a version-3 body")
		}
		if b, err := tx.Body(id); err != nil || !bytes.Equal(b, body) {
			t.Errorf("version-3 body read as %d bytes, %v", len(b), err)
		}
		if b, err := tx.DumpsterBody(k); err != nil || !bytes.Equal(b, body) {
			t.Errorf("version-3 dumpster body read as %d bytes, %v", len(b), err)
		}
		if n := tx.DumpsterStats()["DB1"].Bytes; n != int64(len(body)) {
			t.Errorf("dumpster bytes %d", n)
		}
		return nil
	})
	m := msg(s, "a@example.org", "b@example.test")
	m.State = Ready
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Delete(id); err != nil {
			return err
		}
		if n, err := tx.DumpsterDelete(k); err != nil || n != int64(len(body)) {
			return fmt.Errorf("dumpster delete: %d bytes, %v", n, err)
		}
		return tx.PutNew(m, body)
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		if tx.bodies.Get(id.Key()) != nil || tx.bodies.Bucket(id.Key()) != nil {
			t.Error("the version-3 body outlived its message")
		}
		if tx.tx.Bucket(bucketDumpBody).Stats().KeyN != 0 {
			t.Error("the version-3 dumpster body outlived its copy")
		}
		if tx.bodies.Bucket(m.ID.Key()) == nil {
			t.Error("a new body after the upgrade is not in a bucket of its own")
		}
		if n := tx.DumpsterStats()["DB1"].Bytes; n != 0 {
			t.Errorf("dumpster bytes %d after the delete", n)
		}
		return nil
	})
}

// `umbra db compact --schema 3` writes a copy a release of version 3
// reads: version 3, every body a value of its table (what that release
// reads with Get), the content unchanged; this release opens it again
// as version 4.
func TestCompactToSchema3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	var dumpKey DumpsterKey
	for i, n := range []int{100, 5000, 100 << 10, 300 << 10} {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		body := numberedBody(i, n)
		k := DumpsterKey{Database: "DB1", KeptAt: time.Unix(int64(1000+i), 0), ID: m.ID}
		if err := s.Update(context.Background(), func(tx *Tx) error {
			if err := tx.PutNew(m, body); err != nil {
				return err
			}
			return tx.DumpsterPut(k, m, body)
		}); err != nil {
			t.Fatal(err)
		}
		want[string(m.ID.Key())], want[string(k.bytes())] = body, body
		dumpKey = k
	}
	if _, _, err := CompactTo(path, 0, 3); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("compaction of an open database: %v", err)
	}
	if _, _, err := CompactTo(path, 0, 2); err == nil {
		t.Fatal("compaction to schema version 2 accepted")
	}
	s.Close()
	if _, _, err := CompactTo(path, 1<<30, 3); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchemaVersion); len(v) != 1 || v[0] != 3 {
			t.Errorf("schema version %v", v)
		}
		for _, name := range [][]byte{bucketBodies, bucketDumpBody} {
			b := tx.Bucket(name)
			n := 0
			b.ForEach(func(k, v []byte) error {
				n++
				if v == nil {
					t.Errorf("%s %x: still a bucket", name, k)
				} else if !bytes.Equal(v, want[string(k)]) {
					t.Errorf("%s %x: %d bytes, want %d", name, k, len(v), len(want[string(k)]))
				}
				return nil
			})
			if n != 4 {
				t.Errorf("%s holds %d bodies, want 4", name, n)
			}
		}
		return nil
	})
	db.Close()
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		if b, err := tx.DumpsterBody(dumpKey); err != nil || !bytes.Equal(b, want[string(dumpKey.bytes())]) {
			t.Errorf("after the way back and forth: %d bytes, %v", len(b), err)
		}
		return nil
	})
}

// Compaction moves a body held whole above the spool threshold into a
// spool file in either form, a bucket of its own included.
func TestCompactSpoolsBodiesOfTheirOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	body := numberedBody(1, 200<<10)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, body) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := CompactSpooling(path, 64<<10); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := storedBody(s, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Bytes()
	if !b.Spooled() || err != nil || !bytes.Equal(got, body) {
		t.Errorf("after compaction: spooled %v, %d bytes, %v", b.Spooled(), len(got), err)
	}
}

// storedBody reads a message's Body in a transaction of its own.
func storedBody(s *Store, id ID) (Body, error) {
	var b Body
	err := s.View(func(tx *Tx) error {
		var err error
		b, err = tx.BodyOf(id)
		return err
	})
	return b, err
}

const bodyKillChildEnv = "UMBRA_BODY_KILL_DIR"

// TestBodyKillChild is the child's part of TestKill9BodiesOfTheirOwn: it
// receives 100 KiB messages two to a commit and removes the oldest in
// the same commit, printing each commit's new ids once it returned
// (acknowledged), until it is killed (or after 3,000 commits).
func TestBodyKillChild(t *testing.T) {
	dir := os.Getenv(bodyKillChildEnv)
	if dir == "" {
		t.Skip("run by TestKill9BodiesOfTheirOwn")
	}
	s, err := Open(filepath.Join(dir, "queue.db"), Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var live []ID
	for i := 0; i < 3000; i++ {
		a, b := msg(s, "a@example.org", "b@example.test"), msg(s, "a@example.org", "c@example.test")
		a.State, b.State = Ready, Ready
		var gone ID
		if len(live) > 6 {
			gone = live[0]
		}
		err := s.Update(context.Background(), func(tx *Tx) error {
			if err := tx.PutNew(a, numberedBody(int(a.ID), 100<<10)); err != nil {
				return err
			}
			if err := tx.PutNew(b, numberedBody(int(b.ID), 100<<10)); err != nil {
				return err
			}
			if gone != 0 {
				return tx.Delete(gone)
			}
			return nil
		})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		if gone != 0 {
			live = live[1:]
		}
		live = append(live, a.ID, b.ID)
		fmt.Println("ACK", uint64(a.ID), uint64(b.ID), uint64(gone))
	}
	select {}
}

// A kill -9 in the middle of commits that put bodies in buckets of
// their own and delete others (doc.go, point 8): the store opened again
// holds, for every acknowledged message not deleted, its record and its
// whole body, and no record without a body nor a body without a record.
func TestKill9BodiesOfTheirOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	for round, after := range []int{5, 40, 90} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBodyKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), bodyKillChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[ID]bool{}
		deleted := map[ID]bool{}
		var order []ID // acknowledged, in the order the child deletes them
		sc := bufio.NewScanner(out)
		read := func() bool {
			var a, b, gone ID
			if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d %d", &a, &b, &gone); err != nil {
				return false
			}
			acked[a], acked[b] = true, true
			order = append(order, a, b)
			if gone != 0 {
				deleted[gone] = true
			}
			return true
		}
		for n := 0; n < after && sc.Scan(); n++ {
			if !read() {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %s", sc.Text())
			}
		}
		cmd.Process.Signal(syscall.SIGKILL) // in the middle of a later commit, most likely
		// The child went on committing while this read: what it printed
		// before the kill counts (a later commit deleted messages
		// acknowledged above), and the commit the kill cut after it
		// returned but before its line may have deleted the next one in
		// order, which is then gone by right, not lost.
		for sc.Scan() && read() {
		}
		cmd.Wait()
		if n := len(deleted); n < len(order) {
			deleted[order[n]] = true
		}
		if len(acked) == 0 {
			t.Fatalf("round %d: no acknowledged commit", round)
		}
		s, err := Open(filepath.Join(dir, "queue.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		records := map[ID]bool{}
		s.View(func(tx *Tx) error {
			tx.ForEach(func(m *Message, err error) bool {
				if err != nil {
					t.Errorf("round %d: a record does not decode: %v", round, err)
					return true
				}
				records[m.ID] = true
				if b, err := tx.Body(m.ID); err != nil || !bytes.Equal(b, numberedBody(int(m.ID), 100<<10)) {
					t.Errorf("round %d: message %s: body of %d bytes, %v", round, m.ID, len(b), err)
				}
				return true
			})
			c := tx.bodies.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if !records[ID(beUint64(k))] {
					t.Errorf("round %d: a body without a record: %x", round, k)
				}
			}
			return nil
		})
		for id := range acked {
			if !deleted[id] && !records[id] {
				t.Errorf("round %d: acknowledged message %s lost", round, id)
			}
		}
		// The next round starts over what this one left: remove it.
		if err := s.Update(context.Background(), func(tx *Tx) error {
			for id := range records {
				if err := tx.Delete(id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// A backup checks a body in a bucket of its own like any other: a byte
// changed in it after the backup was written is refused, naming the
// message, and a sound backup restores it whole.
func TestBackupChecksBodiesOfTheirOwn(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "data", "queue.db")
	os.MkdirAll(filepath.Dir(live), 0o700)
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var id ID
	var want []byte
	for i := 0; i < 3; i++ {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		body := numberedBody(i, 60<<10)
		if i == 1 {
			body = append(append(body, "MARKER-BODY-OF-ITS-OWN\r\n"...), numberedBody(i, 40<<10)...)
			id, want = m.ID, body
		}
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, body) }); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := VerifyBackup(backup); err != nil {
		t.Fatalf("a sound backup: %v", err)
	}
	err = VerifyBackup(flipped(t, backup, "MARKER-BODY-OF-ITS-OWN"))
	if err == nil || !strings.Contains(err.Error(), "message "+id.String()+": its body") {
		t.Fatalf("a changed body in a bucket of its own: %v", err)
	}
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	s, err = Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		if b, err := tx.Body(id); err != nil || !bytes.Equal(b, want) {
			t.Errorf("restored body: %d bytes, %v", len(b), err)
		}
		return nil
	})
}
