package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const liveWriterEnv = "UMBRA_LIVE_WRITER_DIR"

// TestLiveWriterChild is a daemon under write load, for the tests below:
// it opens the transport database and submits and delivers messages
// (records written, moved to the dumpster, removed) until it is killed,
// or for at most 20 000 messages / 3 minutes.
func TestLiveWriterChild(t *testing.T) {
	dir := os.Getenv(liveWriterEnv)
	if dir == "" {
		t.Skip("run by TestOpenersOfALiveDatabaseUnderWriteLoadSayInUse")
	}
	s, err := Open(filepath.Join(dir, "queue.db"), Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	deliver := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		res := make([]Result, len(rcpts))
		for k, i := range rcpts {
			res[k] = Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:db1", NextHop: "maildir", Reply: "250 2.0.0 ok", Database: "db1"}
		}
		return res
	})
	q := NewManager(s, deliver, ManagerConfig{})
	ctx := context.Background()
	q.Start(ctx)
	body := []byte("Subject: load\r\n\r\n" + strings.Repeat("a line of a message body under write load\r\n", 60))
	end := time.Now().Add(3 * time.Minute)
	for i := 0; i < 20000 && time.Now().Before(end); i++ {
		m := msg(s, "a@example.org", fmt.Sprintf("u%d@example.test", i%50), "v@example.test")
		if err := q.Submit(ctx, m, body); err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		if i == 300 {
			fmt.Println("WRITING")
		}
	}
	fmt.Println("DONE")
	select {}
}

// OPS-3, Q-5 (rt23c F1): every opener of the transport database asked
// while a daemon holds it and writes says the database is in use,
// naming the daemon — never that it is damaged, with the advice to move
// it aside and start empty, from a walk of pages the daemon rewrites —
// and, after the daemon is killed (-9), the database opens sound.
func TestOpenersOfALiveDatabaseUnderWriteLoadSayInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("a child process under write load")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	// A backup to restore over the live database.
	other := filepath.Join(t.TempDir(), "queue.db")
	bs, err := Open(other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := SaveBackup(backup, func(w io.Writer) (int64, error) { return bs.Backup(w, nil) }); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLiveWriterChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), liveWriterEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); l == "WRITING" || strings.HasPrefix(l, "ERR") {
				line <- l
				return
			}
		}
		line <- "EOF"
	}()
	select {
	case l := <-line:
		if l != "WRITING" {
			t.Fatalf("child: %s", l)
		}
	case <-time.After(3 * time.Minute): // a bound on the test, not a timing assertion
		t.Fatal("the child wrote nothing")
	}
	inUse := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s of the live database succeeded", what)
		}
		if !errors.Is(err, ErrInUse) || errors.Is(err, ErrDamaged) || strings.Contains(err.Error(), "damaged") {
			t.Fatalf("%s of the live database: %v; want in use", what, err)
		}
		if os.Getenv("NOPID") == "" && !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
			t.Fatalf("%s of the live database: %v; want the holder, pid %d, named", what, err, cmd.Process.Pid)
		}
	}
	for i := 0; i < 5; i++ {
		s, err := Open(path, Options{}) // a second serve on the same data_dir
		if s != nil {
			s.Close()
		}
		inUse("serve", err)
		_, _, err = CompactTo(path, 0, 0)
		inUse("compact", err)
		inUse("verify", VerifyBackup(path))
		_, err = SchemaOf(path)
		inUse("schema", err)
		_, _, err = BackupOrigin(path)
		inUse("backup origin", err)
		_, err = UncheckedIn(path)
		inUse("unchecked", err)
		_, err = RestoreWith(backup, path, RestoreOptions{})
		inUse("restore", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	s.Close()
}

// OPS-3 (rt23c F1, F2): a starting daemon holds the database's lock
// before it reads a page of it: while its walk runs, a compaction is
// refused and the CLI's probe (LockHolder) finds it holding the file,
// so a command says "starting", not "not running".
func TestOpenHoldsTheLockDuringItsWalk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var held bool
	var pid int
	var compactErr error
	hookWalk = func(p string) {
		if p != path {
			return
		}
		hookWalk = nil // once: the compaction below walks too
		held, pid, _ = LockHolder(path)
		_, _, compactErr = CompactTo(path, 0, 0)
	}
	defer func() { hookWalk = nil }()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !held || pid != os.Getpid() {
		t.Errorf("during the walk of a starting daemon: held %v by pid %d, want held by %d", held, pid, os.Getpid())
	}
	if !errors.Is(compactErr, ErrInUse) {
		t.Errorf("compaction during a start's walk: %v, want in use", compactErr)
	}
}

// Q-1, OPS-3: a daemon that opens the transport database while a
// compaction or a restore holds it waits for the lock; those give the
// database's name to a new file and only then let go of the old one's
// lock. The waiting opener must end up on the file the name now holds:
// holding the old file's lock, it would keep every message it accepts
// in a file already deleted, and lose them all at its next start.
func TestOpenWaitingThroughARenameOpensTheNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// What compact and restore leave under the name: another sound
	// database file, renamed over it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := lockDB(path, true, 0) // the compaction's lock
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var once bool
	hookLockWait = func(string) {
		if !once {
			once = true
			close(waiting)
		}
	}
	defer func() { hookLockWait = nil }()
	opened := make(chan error, 1)
	var daemon *Store
	go func() {
		var err error
		daemon, err = Open(path, Options{})
		opened <- err
	}()
	select {
	case <-waiting:
	case err := <-opened:
		t.Fatalf("Open did not wait for the held lock: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Open neither waited nor returned")
	}
	tmp := path + ".compact"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	closeLocked(holder)
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	m := msg(daemon, "a@example.org", "b@example.test")
	m.State = Ready
	if err := daemon.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	daemon.Close()
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.View(func(tx *Tx) error { _, err := tx.Get(m.ID); return err }); err != nil {
		t.Fatalf("a message the daemon stored after waiting out the rename is not in the database at its next start: %v", err)
	}
}
