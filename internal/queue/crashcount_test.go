package queue

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// crashCopy copies what a kill -9 leaves on disk at this moment — the
// database file and the slot file, as the page cache holds them — into
// a new directory, and returns the database path there. The running
// store is left as it is (its Close would commit what kill -9 loses).
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "queue.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), peerWaitFileName)); err == nil {
		if err := os.WriteFile(filepath.Join(filepath.Dir(dst), peerWaitFileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// crashCounts opens the database at path, recovers it as the next
// start does, and returns every message's crash count.
func crashCounts(t *testing.T, path string) map[ID]int {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, nil, ManagerConfig{PoisonThreshold: 5})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := map[ID]int{}
	for _, m := range messages(t, s) {
		out[m.ID] = m.CrashCount
	}
	return out
}

// oneDest plans every message as one job for one destination whose
// window is 1: the first message's job runs, the others wait for it.
type oneDest struct {
	DelivererFunc
}

func (oneDest) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	return []Job{{Dest: "slow.example", Queue: "mx:slow.example", Max: 1, Rcpts: rcpts}}
}

// submitReady stores n messages, due now.
func submitReady(t *testing.T, s *Store, n int) []ID {
	t.Helper()
	var ids []ID
	for range n {
		m := msg(s, "a@example.org", "b@slow.example")
		m.State, m.NextAttempt = Ready, time.Now()
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// F1: messages claimed into the active set but queued behind a busy
// destination's window never ran any of umbra's code: a kill -9 does not
// count against them. The one whose job runs umbra's code (here: stuck
// in it) does count.
func TestCrashCountsOnlyRunningJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := submitReady(t, s, 4)
	var mu sync.Mutex
	var running ID
	reached, release := make(chan struct{}, 4), make(chan struct{})
	q := NewManager(s, oneDest{DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		mu.Lock()
		running = m.ID
		mu.Unlock()
		reached <- struct{}{}
		<-release // in umbra's code: no wait on a peer
		return nil
	})}, ManagerConfig{})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(release); cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("no job started")
	}
	waitFor(t, "every message claimed", func() bool {
		n := 0
		s.View(func(tx *Tx) error { n = len(tx.ActiveIDs()); return nil })
		return n == len(ids)
	})
	// Every start done: only the running job's slot is taken.
	waitFor(t, "the starts over", func() bool { return len(slotPhases(t, path)) == 1 })
	killed := crashCopy(t, path)
	mu.Lock()
	defer mu.Unlock()
	slots := func(p string) string { return filepath.Join(filepath.Dir(p), peerWaitFileName) }
	for _, c := range []struct {
		name  string
		spoil func(slots string) // the slot file made untrusted: every message counts
	}{
		{"trusted", nil},
		{"emptied (a write failed)", func(p string) { os.Truncate(p, 0) }},
		{"missing", func(p string) { os.Remove(p) }},
		{"header damaged", func(p string) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			f.WriteAt([]byte{'X'}, 3)
			f.Close()
		}},
	} {
		dup := crashCopy(t, killed)
		if c.spoil != nil {
			c.spoil(slots(dup))
		}
		counts := crashCounts(t, dup)
		for _, id := range ids {
			want := 1
			if c.spoil == nil && id != running {
				want = 0
			}
			if counts[id] != want {
				t.Errorf("%s: message %s (running %v): crash count %d, want %d", c.name, id, id == running, counts[id], want)
			}
		}
	}
}

// F2: an attempt whose results wait for a deferred commit
// (Store.UpdateDeferred) is over: a kill -9 before that commit repeats
// the delivery but does not count against the message.
func TestCrashWhileResultsDeferredDoesNotCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ids := submitReady(t, s, 1)
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, _ []byte, rcpts []int) []Result {
		res := make([]Result, len(rcpts))
		for i, r := range rcpts {
			res[i] = Result{Rcpt: r, Outcome: RelayedOK, Queue: "mx:slow.example", Reply: "250 ok"}
		}
		return res
	}), ManagerConfig{})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait(); s.Close() }()
	q.Start(ctx)
	waitFor(t, "the results set aside", func() bool { return s.asideN.Load() == 1 })
	// The attempt hands its slot back just after it hands its results
	// to the store: a kill between the two still counts (doc.go point 3,
	// "until its results are handed to the store"). Once the slot is
	// free — the results still set aside — a kill must not.
	waitFor(t, "no crash counted while the results wait for their commit", func() bool {
		return s.asideN.Load() == 1 && crashCounts(t, crashCopy(t, path))[ids[0]] == 0
	})
}

// logBuf is a logger's output, safe for concurrent writes.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// recoverOne stores one Active message (in flight at a crash) in a
// store at path, then opens it again and recovers it with a logger,
// within a bound (a start that hangs fails). It returns the message's
// crash count and the log.
func recoverOne(t *testing.T, path string) (int, string) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := msg(s, "a@example.org", "b@example.net")
	m.State = Active
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	id := m.ID
	var log logBuf
	q := NewManager(s, nil, ManagerConfig{PoisonThreshold: 5, Log: slog.New(slog.NewTextHandler(&log, nil))})
	done := make(chan error, 1)
	go func() { _, _, err := q.Recover(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recover hangs")
	}
	for _, m := range messages(t, s) {
		if m.ID == id {
			return m.CrashCount, log.String()
		}
	}
	t.Fatal("the message is gone")
	return 0, ""
}

// slotFileRegular says whether the slot file is now a regular file
// holding a header.
func slotFileRegular(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(dir, peerWaitFileName))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != peerWaitHeaderSize {
		t.Fatalf("the slot file was not replaced by a regular one: %v %v", fi, err)
	}
}

// F4: a FIFO in the slot file's place does not hang the start: it is not
// opened; the file is untrusted (the crash counts), a warning says why,
// and a regular file takes its place.
func TestPeerWaitSlotFileFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, peerWaitFileName), 0o600); err != nil {
		t.Fatal(err)
	}
	n, log := recoverOne(t, filepath.Join(dir, "queue.db"))
	if n != 1 || !strings.Contains(log, "level=WARN") || !strings.Contains(log, "a FIFO, not a regular file") {
		t.Fatalf("crash count %d, log:\n%s", n, log)
	}
	slotFileRegular(t, dir)
}

// F4: a symlink in the slot file's place (and in the old marker
// directory's) is not followed: what it points at is neither read,
// truncated nor emptied; the crash counts, and a regular file takes its
// place.
func TestPeerWaitSlotFileSymlink(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	target := filepath.Join(other, "precious")
	if err := os.WriteFile(target, []byte("not umbra's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, peerWaitFileName)); err != nil {
		t.Fatal(err)
	}
	markers := filepath.Join(other, "markers")
	os.Mkdir(markers, 0o700)
	marker := filepath.Join(markers, ID(7).String())
	os.WriteFile(marker, []byte("1"), 0o600)
	if err := os.Symlink(markers, filepath.Join(dir, peerWaitDirName)); err != nil {
		t.Fatal(err)
	}
	n, log := recoverOne(t, filepath.Join(dir, "queue.db"))
	if n != 1 || !strings.Contains(log, "a symlink, not a regular file") {
		t.Fatalf("crash count %d, log:\n%s", n, log)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "not umbra's" {
		t.Fatalf("the symlink's target was changed: %q %v", b, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("a file behind the old marker directory's symlink was removed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, peerWaitDirName)); err == nil {
		t.Fatal("the symlink in the old marker directory's place stays")
	}
	slotFileRegular(t, dir)
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// F3: a huge slot file (a sparse terabyte here) is not read whole: the
// read stops one byte past the bound it is given, the header and
// maxSlots slots, and the file is untrusted (the crash counts).
func TestPeerWaitSlotFileHuge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	NewManager(s, nil, ManagerConfig{}).Recover(context.Background()) // this run's file, recorded as such
	s.Close()
	slots := filepath.Join(dir, peerWaitFileName)
	if err := os.Truncate(slots, 1<<40); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(slots)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := &countingReader{r: f}
	const maxSlots = 100
	r := readPeerWaitSlots(cr, maxSlots, bootID(), s.pw.run)
	if bound := int64(peerWaitHeaderSize + maxSlots*peerWaitSlotSize + 1); r.trusted || cr.n > bound {
		t.Fatalf("read %d bytes of a 1 TiB file (bound %d), trusted %v: %s", cr.n, bound, r.trusted, r.why)
	}
	n, log := recoverOne(t, path)
	if n != 1 || !strings.Contains(log, "larger than") {
		t.Fatalf("crash count %d, log:\n%s", n, log)
	}
	slotFileRegular(t, dir)
}

// F4: a slot file that cannot be written is said once, as a warning
// naming the consequence (every crash counts), and the next start does
// not trust the stale file left in its place.
func TestPeerWaitSlotFileUnwritable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := NewManager(s, nil, ManagerConfig{})
	q.Recover(context.Background())
	s.Close()
	slots := filepath.Join(dir, peerWaitFileName)
	unwritable(t, slots)
	// The last run's file is still read (it was written whole); this
	// run cannot start its own.
	_, log := recoverOne(t, path)
	if strings.Count(log, "peer-wait slot file cannot be written") != 1 || !strings.Contains(log, "every crash counts") {
		t.Fatalf("log:\n%s", log)
	}
	// The run that could not write the file left the last run's in
	// place: not its own, so not trusted at the next start.
	if n, _ := recoverOne(t, path); n != 1 {
		t.Fatalf("after a run without a slot file: crash count %d, want 1 (the stale file trusted)", n)
	}
}

// unwritable makes path a file this process cannot open for writing: as
// root, immutable (FS_IOC_SETFLAGS); otherwise read-only.
func unwritable(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(path), 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Dir(path), 0o700) })
		return
	}
	const fsIocGetflags, fsIocSetflags, fsImmutable = 0x80086601, 0x40086602, 0x10
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flags int
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		t.Skipf("no file flags here (%v): cannot make a file unwritable for root", e)
	}
	flags |= fsImmutable
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		t.Skipf("cannot make a file immutable here (%v): cannot make a file unwritable for root", e)
	}
	t.Cleanup(func() {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		flags &^= fsImmutable
		syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetflags, uintptr(unsafe.Pointer(&flags)))
	})
}

// The same mistakes beside the slot file, at Open: a symlink in the
// spool directory's place is refused, not followed (the start's sweep
// would remove the files of the directory it points at), and a FIFO in
// the database's place is refused as not a regular file, at once.
func TestOpenRefusesSpoolSymlinkAndDatabaseFIFO(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	precious := filepath.Join(other, "not-a-spool-file")
	if err := os.WriteFile(precious, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(dir, spoolDirName)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(filepath.Join(dir, "queue.db"), Options{})
	if err == nil || !strings.Contains(err.Error(), "a symlink, not a directory") {
		t.Fatalf("Open with a symlinked spool directory: %v", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatalf("a file behind the spool directory's symlink was removed: %v", err)
	}

	dir = t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "queue.db"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := Open(filepath.Join(dir, "queue.db"), Options{})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "a FIFO, not a regular file") {
			t.Fatalf("Open of a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open of a FIFO hangs")
	}
}
