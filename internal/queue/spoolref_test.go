package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// spooled writes content into a new spool file and finishes it.
func spooled(t *testing.T, s *Store, content []byte) Body {
	t.Helper()
	w, err := s.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 64<<10)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spoolFiles(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(s.spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func bigContent(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: big\r\n\r\n")
	for i := 0; b.Len() < n; i++ {
		if i%7 == 0 {
			b.WriteString(".a line that starts with a dot\r\n")
		}
		b.WriteString("0123456789abcdefghijklmnopqrstuvwxyz 0123456789abcdefghijklmnopqrstuvwxyz\r\n")
	}
	return b.Bytes()
}

// A spooled body submitted is stored as a record naming its file (not
// read, not copied into the database), delivered from it byte for byte,
// and its file removed after the commit that drops the message.
func TestSubmitBodySpooledNamesFile(t *testing.T) {
	s := openTest(t)
	content := bigContent(3 << 20)
	b := spooled(t, s, content)
	hdr := []byte("Received: from test\r\nFrom: a@example.org\r\nSubject: big\r\n\r\n")
	b, err := b.WithHead(hdr, int64(bytes.Index(content, []byte("\r\n\r\n"))+4))
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), hdr...), content[bytes.Index(content, []byte("\r\n\r\n"))+4:]...)
	got := make(chan []byte, 1)
	release := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
		<-release
		got <- body
		return []Result{{Rcpt: 0, Outcome: RelayedOK, Reply: "250 ok"}}
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@example.org", "b@example.net")
	if err := q.SubmitBody(ctx, m, b); err != nil {
		t.Fatal(err)
	}
	// Stored: the head in bodies, the reference, one count.
	err = s.View(func(tx *Tx) error {
		sb, err := tx.BodyOf(m.ID)
		if err != nil {
			return err
		}
		if !sb.Spooled() || !bytes.Equal(sb.Head(), hdr) || sb.Len() != int64(len(want)) {
			t.Errorf("stored body: spooled %v head %q len %d, want %d", sb.Spooled(), sb.Head(), sb.Len(), len(want))
		}
		if n := tx.SpoolRefs(sb); n != 1 {
			t.Errorf("references: %d, want 1", n)
		}
		if v := tx.bodies.Get(m.ID.Key()); len(v) != len(hdr) {
			t.Errorf("the database holds %d bytes of the body, want only the %d of its head", len(v), len(hdr))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != int64(len(want)) {
		t.Errorf("Size %d, want %d", m.Size, len(want))
	}
	close(release)
	if g := <-got; !bytes.Equal(g, want) {
		t.Fatalf("delivered %d bytes, not the %d stored", len(g), len(want))
	}
	waitFor(t, "the message to leave", func() bool { return len(messages(t, s)) == 0 })
	waitFor(t, "its spool file to be removed", func() bool { return len(spoolFiles(t, s)) == 0 })
}

// Several records name one file: a dumpster copy keeps it after the
// message is gone, its resubmission names it again, and the file goes
// only with the last reference.
func TestSpoolReferenceCounting(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	content := bigContent(300 << 10)
	b := spooled(t, s, content)
	path, _, _ := b.File()
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	key := DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNewBody(m, b); err != nil {
			return err
		}
		return tx.DumpsterPutBody(key, m, b)
	}); err != nil {
		t.Fatal(err)
	}
	refs := func() (n int64) {
		s.View(func(tx *Tx) error { n = tx.SpoolRefs(b); return nil })
		return n
	}
	if n := refs(); n != 2 {
		t.Fatalf("references after message and dumpster copy: %d, want 2", n)
	}
	s.View(func(tx *Tx) error {
		if st := tx.DumpsterStat("DB1"); st.Bytes != int64(len(content)) {
			t.Errorf("dumpster bytes %d, want %d", st.Bytes, len(content))
		}
		return nil
	})
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil || refs() != 1 {
		t.Fatalf("the dumpster copy's file: %v, %d references", err, refs())
	}
	// Resubmission: a new record names the file, the copy is dropped.
	m2 := msg(s, "a@example.org", "b@example.test")
	m2.State, m2.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error {
		db, err := tx.DumpsterBodyOf(key)
		if err != nil {
			return err
		}
		if err := tx.PutNewBody(m2, db); err != nil {
			return err
		}
		_, err = tx.DumpsterDelete(key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil || refs() != 1 {
		t.Fatalf("after resubmission: %v, %d references", err, refs())
	}
	var whole []byte
	s.View(func(tx *Tx) error { var err error; whole, err = tx.Body(m2.ID); return err })
	if !bytes.Equal(whole, content) {
		t.Fatalf("resubmitted body differs (%d bytes)", len(whole))
	}
	// A failed commit drops nothing: the file stays.
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Delete(m2.ID); err != nil {
			return err
		}
		return os.ErrInvalid
	}); err == nil {
		t.Fatal("the failing commit succeeded")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a rolled back removal removed the file: %v", err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete(m2.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file left after its last reference: %v", err)
	}
}

// Open removes the spool files no record names (a session that ended
// before its commit, a crash between a commit and a removal) and keeps
// the named ones.
func TestOpenSweepsOrphanSpoolFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	kept := spooled(t, s, bigContent(100<<10))
	orphan := spooled(t, s, bigContent(100<<10))
	w, err := s.NewSpool() // being written when the server stopped
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, kept) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	files := spoolFiles(t, s)
	kp, _, _ := kept.File()
	op, _, _ := orphan.File()
	if len(files) != 1 || files[0] != filepath.Base(kp) {
		t.Fatalf("spool directory after Open: %v; want only %s (orphan %s)", files, filepath.Base(kp), filepath.Base(op))
	}
	// The start says what it deleted: two files no record named.
	if n := s.SpoolSwept(); n != 2 {
		t.Fatalf("SpoolSwept() = %d after removing the orphan and the partial file, want 2", n)
	}
	var got []byte
	s.View(func(tx *Tx) error { var err error; got, err = tx.Body(m.ID); return err })
	if !bytes.Equal(got, bigContent(100<<10)) {
		t.Fatal("the named body did not survive the reopen")
	}
	if len(s.MissingSpool()) != 0 {
		t.Fatalf("missing: %v", s.MissingSpool())
	}
}

// A record whose file is gone (a data directory copied without its
// spool directory) is never delivered truncated: the attempt finds the
// file missing and holds the message as poison.
func TestMissingSpoolFileIsPoisonNotTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := spooled(t, s, bigContent(100<<10))
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	p, _, _ := b.File()
	os.Remove(p)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.MissingSpool()) != 1 {
		t.Fatalf("missing spool files reported: %v", s.MissingSpool())
	}
	called := make(chan struct{}, 1)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result {
		called <- struct{}{}
		return nil
	}), ManagerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	waitFor(t, "the message held as poison", func() bool {
		ms := messages(t, s)
		return len(ms) == 1 && ms[0].State == Poison
	})
	select {
	case <-called:
		t.Fatal("a message whose file is missing was handed to delivery")
	default:
	}
}

// A backup taken with spooled messages carries their bodies whole: the
// restored database, in another data directory without any spool file,
// holds every body, and the live database's spool files are untouched.
func TestBackupCarriesSpooledBodies(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	content := bigContent(500 << 10)
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	key := DumpsterKey{Database: "DB1", KeptAt: time.Unix(1000, 0), ID: m.ID}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.PutNewBody(m, b); err != nil {
			return err
		}
		return tx.DumpsterPutBody(key, m, b)
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
	if _, err := Restore(backup, live); err != nil {
		t.Fatal(err)
	}
	r, err := Open(live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.View(func(tx *Tx) error {
		got, err := tx.Body(m.ID)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("restored message body: %d bytes, %v", len(got), err)
		}
		d, err := tx.DumpsterBody(key)
		if err != nil || !bytes.Equal(d, content) {
			t.Errorf("restored dumpster body: %d bytes, %v", len(d), err)
		}
		if st := tx.DumpsterStat("DB1"); st.Bytes != int64(len(content)) {
			t.Errorf("restored dumpster bytes %d", st.Bytes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.MissingSpool()) != 0 {
		t.Fatalf("restored database names spool files: %v", r.MissingSpool())
	}
	if files := spoolFiles(t, s); len(files) != 1 {
		t.Fatalf("live spool directory after the backup: %v", files)
	}
	ents, _ := os.ReadDir(filepath.Dir(s.db.Path()))
	for _, e := range ents {
		if e.Name() != "queue.db" && e.Name() != "spool" {
			t.Errorf("left beside the database: %s", e.Name())
		}
	}
}

// A database restored in place, or made anew beside an old spool
// directory (a damaged queue.db moved aside), does not sweep the old
// database's spool files: they are moved aside with it, not deleted.
func TestRestoredDatabaseKeepsReplacedSpoolFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	content := bigContent(200 << 10)
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Restore(backup, path); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	s.View(func(tx *Tx) error { got, _ = tx.Body(m.ID); return nil })
	if !bytes.Equal(got, content) {
		t.Fatalf("restored body: %d bytes", len(got))
	}
	s.Close()
	aside, _ := filepath.Glob(filepath.Join(dir, "spool.replaced-*"))
	if len(aside) != 1 {
		t.Fatalf("the replaced database's spool files: %v", aside)
	}
	p, _, _ := b.File()
	if _, err := os.Stat(filepath.Join(aside[0], filepath.Base(p))); err != nil {
		t.Fatalf("the replaced database's spool file was not kept: %v", err)
	}
	// A new database beside a spool directory with files (the damaged
	// queue.db moved aside, as the recovery path says): the same.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b2 := spooled(t, s, content)
	m2 := msg(s, "a@example.org", "b@example.test")
	m2.State, m2.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNewBody(m2, b2) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Rename(path, path+".damaged")
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	aside, _ = filepath.Glob(filepath.Join(dir, "spool.replaced-*"))
	p2, _, _ := b2.File()
	found := false
	for _, a := range aside {
		if _, err := os.Stat(filepath.Join(a, filepath.Base(p2))); err == nil {
			found = true
		}
	}
	if len(aside) != 2 || !found {
		t.Fatalf("a new database swept the moved-aside database's spool files: %v", aside)
	}
}

// A file whose last reference is dropped and which is named again in
// the same transaction is not removed after the commit.
func TestSpoolDropThenAddInOneCommitKeepsFile(t *testing.T) {
	s := openTest(t)
	b := spooled(t, s, bigContent(100<<10))
	path, _, _ := b.File()
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, b) }); err != nil {
		t.Fatal(err)
	}
	m2 := msg(s, "a@example.org", "c@example.test")
	m2.State, m2.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(ctx, func(tx *Tx) error {
		body, err := tx.BodyOf(m.ID)
		if err != nil {
			return err
		}
		if err := tx.Delete(m.ID); err != nil {
			return err
		}
		return tx.PutNewBody(m2, body)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a file named by the commit was removed after it: %v", err)
	}
}

// A keyed submission offered again stores nothing: its spool file is
// removed after the commit, not left for the next Open.
func TestSubmitBodyNotStoredRemovesFile(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		return []Result{{Rcpt: 0, Outcome: Deferred, Reply: "451 4.0.0 later"}}
	}), ManagerConfig{})
	ctx := context.Background()
	first := spooled(t, s, bigContent(100<<10))
	if _, _, err := q.submit(ctx, msg(s, "a@example.org", "b@example.test"), first, "key-1"); err != nil {
		t.Fatal(err)
	}
	again := spooled(t, s, bigContent(100<<10))
	if _, seen, err := q.submit(ctx, msg(s, "a@example.org", "b@example.test"), again, "key-1"); err != nil || !seen {
		t.Fatalf("second offer: seen %v, %v", seen, err)
	}
	p1, _, _ := first.File()
	p2, _, _ := again.File()
	if _, err := os.Stat(p1); err != nil {
		t.Fatalf("the stored submission's file: %v", err)
	}
	if _, err := os.Stat(p2); !os.IsNotExist(err) {
		t.Fatalf("the file of a submission that stored nothing is left: %v", err)
	}
}

// A DSN of a spooled message returns its header section, unless RET=FULL
// was asked and the whole fits in the bounce size limit.
func TestDSNOfSpooledBody(t *testing.T) {
	s := openTest(t)
	content := bigContent(300 << 10)
	b := spooled(t, s, content)
	m := msg(s, "a@example.org", "b@example.test")
	m.RetFull = true
	m.Rcpts[0].Status, m.Rcpts[0].LastReply = Failed, "550 5.1.1 no such user"
	now := time.Now()
	small := BuildDSNBody("umbra.test", m, b, NotifyFailure, []int{0}, now, now, 1, 100<<10, Inside{})
	if !bytes.Contains(small, []byte("text/rfc822-headers")) || !bytes.Contains(small, []byte("Subject: big")) ||
		bytes.Contains(small, []byte("0123456789abcdefghij")) {
		t.Fatalf("over the limit: want the header section only (%d bytes)", len(small))
	}
	full := BuildDSNBody("umbra.test", m, b, NotifyFailure, []int{0}, now, now, 1, 1<<20, Inside{})
	if !bytes.Contains(full, []byte("message/rfc822")) || !bytes.Contains(full, content[len(content)-200:]) {
		t.Fatalf("RET=FULL within the limit: want the whole message (%d bytes)", len(full))
	}
	want := BuildDSN("umbra.test", m, content, NotifyFailure, []int{0}, now, now, 1, 1<<20)
	if !bytes.Equal(full, want) {
		t.Fatal("a spooled body's full DSN differs from the in-memory one")
	}
}
