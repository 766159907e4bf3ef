package queue

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OPS-1, OPS-3 (opsec26 F1): db compact and db restore, run as root, open an
// existing queue.db.cmdlock and truncate it and write their pid and
// command line into it. The data directory is the daemon's user's: a
// name planted there as a hard link to a file elsewhere (the symlink
// case is refused by O_NOFOLLOW, a hard link is not) makes root
// truncate and overwrite that file. walkOwned refuses a regular file
// with Nlink > 1 for the same reason ("another name of it may be
// outside the tree"); the side lock does not.
func TestOPS1CmdLockDoesNotWriteThroughAHardLink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A file outside the data directory (same filesystem), which the
	// daemon's user links in as queue.db.cmdlock.
	victim := filepath.Join(t.TempDir(), "shadow")
	const content = "root:$6$secret:19000:0:99999:7:::\n"
	if err := os.WriteFile(victim, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, CmdLockPath(path)); err != nil {
		t.Skipf("no hard link here: %v", err)
	}
	if _, _, err := CompactSpooling(path, testThreshold); err != nil {
		t.Logf("compact: %v", err)
	}
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("db compact wrote through the hard link queue.db.cmdlock into %s: now %q, was %q", victim, b, content)
	}
}

// OPS-1, OPS-3 (opsec26 F4): openCmdLock's doc says a side lock name that is
// no regular file is "nothing to lock (the database's own lock guards
// it then, as before)" — the daemon's Open goes on so — but a directory
// (or a socket) at the name failed the open itself (EISDIR, ENXIO), and
// db compact and db restore were refused for it. Code and doc agree now:
// nothing to lock, the command goes on under the database's own lock.
func TestOPS1CmdLockNotARegularFile(t *testing.T) {
	for _, kind := range []string{"directory", "socket"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "queue.db")
			if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			switch kind {
			case "directory":
				if err := os.Mkdir(CmdLockPath(path), 0o755); err != nil {
					t.Fatal(err)
				}
			case "socket":
				l, err := net.Listen("unix", CmdLockPath(path))
				if err != nil {
					t.Skipf("no unix socket here: %v", err)
				}
				defer l.Close()
			}
			if s, err := Open(path, Options{}); err != nil {
				t.Fatalf("Open with a %s at the side lock's name: %v", kind, err)
			} else {
				s.Close()
			}
			if _, _, err := CompactSpooling(path, testThreshold); err != nil {
				t.Errorf("db compact with a %s at the side lock's name (Open goes on): %v", kind, err)
			}
			if held, _, _ := commandHolder(path); held {
				t.Errorf("a %s at the side lock's name is told as held", kind)
			}
		})
	}
}

// OPS-1, OPS-3 (opsec26 F1, its sibling): a side lock file with one
// name but of a third user (neither this process's nor the data
// directory's) is not written in either: its name is removed and the
// file made afresh; the file itself keeps its content.
func TestOPS1CmdLockOfAnotherUserIsNotWrittenIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const content = "another user's words\n"
	if err := os.WriteFile(CmdLockPath(path), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(CmdLockPath(path), 54321, 54321); err != nil {
		t.Fatal(err)
	}
	kept, err := os.Open(CmdLockPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	var words []byte
	compactStep = func(point string) {
		if point == "begin" {
			words, _ = os.ReadFile(CmdLockPath(path))
		}
	}
	defer func() { compactStep = nil }()
	if _, _, err := CompactSpooling(path, testThreshold); err != nil {
		t.Fatalf("compact: %v", err)
	}
	b, err := io.ReadAll(kept)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("db compact wrote in another user's file at the side lock's name: now %q, was %q", b, content)
	}
	if want := strconv.Itoa(os.Getpid()) + "\n"; !strings.HasPrefix(string(words), want) {
		t.Errorf("the side lock made afresh holds %q while the compaction runs; want its pid first", words)
	}
}

// OPS-1, OPS-3 (opsec26, the refusal's words): a db command refused
// because another db command holds the side lock is told to wait for
// that command, not to stop umbra, and names it from the side lock's
// words where /proc/locks is hidden (it holds the lock exclusively: a
// daemon holds it shared and writes nothing in it).
func TestOPS1SecondDbCommandNamesTheFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	path := filepath.Join(t.TempDir(), "data", "queue.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	backup := filepath.Join(t.TempDir(), "backup.db")
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	oldLocks := procLocks
	procLocks = filepath.Join(t.TempDir(), "hidden")
	defer func() { procLocks = oldLocks }()

	child := exec.Command(os.Args[0], "-test.run=^TestCmdLockChild$", "-test.count=1")
	child.Env = append(os.Environ(), cmdLockChildEnv+"=compact", "UMBRA_TEST_CMDLOCK_DB="+path)
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	defer func() {
		os.Remove(path + ".paused")
		<-done
	}()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path + ".paused"); err == nil {
			break
		}
		if time.Now().After(end) {
			child.Process.Kill()
			t.Fatalf("the compaction did not reach its first step:\n%s", out.String())
		}
	}
	for name, run := range map[string]func() error{
		"compact": func() error { _, _, err := CompactSpooling(path, testThreshold); return err },
		"restore": func() error {
			_, err := RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold,
				Lost: func([]NotInBackup, bool) error { return nil }})
			return err
		},
	} {
		err := run()
		var ie *InUseError
		if !errors.As(err, &ie) || ie.PID != child.Process.Pid || !strings.Contains(ie.Command, "TestCmdLockChild") {
			t.Errorf("db %s while another db command runs: %v; want it refused naming pid %d", name, err, child.Process.Pid)
			continue
		}
		if strings.Contains(err.Error(), "stop umbra") || !strings.Contains(err.Error(), "another db command") {
			t.Errorf("db %s while another db command runs: %q; want it told to wait for that command", name, err)
		}
	}
}
