package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// OPS-1, OPS-3, Q-5 (ops26 1): an offline db command that writes
// (restore, compact) takes its lock before it reads anything it acts
// on — a restore read and checked the backup and counted what it would
// leave behind before it locked the database, and a daemon started in
// those seconds opened the database first, the restore then refused as
// in use. The lock is a side lock beside the database (its holder's
// pid and command line written in it), which a daemon's Open looks at
// before it opens the database, so that it waits for the command — and
// names it, even where /proc/locks is hidden (the units' ProcSubset=pid).
// The child (this test binary) runs the command and pauses at its
// first step; the parent starts a daemon's Open meanwhile.

const cmdLockChildEnv = "UMBRA_TEST_CMDLOCK"

// TestCmdLockChild is the child's part: restore or compact the
// database, paused at the command's first step until the parent
// removes the mark path.paused.
func TestCmdLockChild(t *testing.T) {
	op := os.Getenv(cmdLockChildEnv)
	if op == "" {
		t.Skip("run by TestDbCommandLocksBeforeItReads")
	}
	path, backup := os.Getenv("UMBRA_TEST_CMDLOCK_DB"), os.Getenv("UMBRA_TEST_CMDLOCK_BACKUP")
	pause := func(point string) {
		if point != "begin" {
			return
		}
		if err := os.WriteFile(path+".paused", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(path + ".paused"); err != nil {
				return
			}
		}
		t.Fatal("not let go on")
	}
	var err error
	switch op {
	case "restore":
		restoreStep = pause
		_, err = RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold,
			Lost: func([]NotInBackup, bool) error { return nil }})
	case "compact":
		compactStep = pause
		_, _, err = CompactSpooling(path, testThreshold)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestDbCommandLocksBeforeItReads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nbacked up\r\n")) }); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	// /proc/locks hidden, as under the units' ProcSubset=pid: only the
	// side lock can name the command.
	oldLocks := procLocks
	procLocks = filepath.Join(t.TempDir(), "hidden")
	defer func() { procLocks = oldLocks }()

	for _, op := range []string{"restore", "compact"} {
		for _, waits := range []bool{true, false} {
			name := op + "/refused"
			if waits {
				name = op + "/waits"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "data", "queue.db")
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				old, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				oldID := old.DatabaseID()
				if err := old.Close(); err != nil {
					t.Fatal(err)
				}
				child := exec.Command(os.Args[0], "-test.run=^TestCmdLockChild$", "-test.count=1")
				child.Env = append(os.Environ(), cmdLockChildEnv+"="+op, "UMBRA_TEST_CMDLOCK_DB="+path, "UMBRA_TEST_CMDLOCK_BACKUP="+backup)
				var out bytes.Buffer
				child.Stdout, child.Stderr = &out, &out
				if err := child.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- child.Wait() }()
				defer func() {
					child.Process.Kill()
					<-done
				}()
				for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if _, err := os.Stat(path + ".paused"); err == nil {
						break
					}
					if time.Now().After(end) {
						t.Fatalf("the %s did not reach its first step:\n%s", op, out.String())
					}
				}
				// A command asks: a db command runs, named (LockState).
				if held, known, pid, command := LockState(path); !held || !known || pid != child.Process.Pid || !strings.Contains(command, "TestCmdLockChild") {
					t.Errorf("LockState while the %s is at its first step: held %v, known %v, pid %d (%q); want the child, pid %d",
						op, held, known, pid, command, child.Process.Pid)
				}
				// A daemon starts while the command is at its first step.
				var named atomic.Int64
				o := Options{}
				if waits {
					o.HeldBy = func(pid int, command string) error {
						if named.CompareAndSwap(0, int64(pid)) {
							if !strings.Contains(command, "TestCmdLockChild") {
								t.Errorf("the holder's command: %q, want the child's", command)
							}
							os.Remove(path + ".paused") // the command goes on
						}
						return nil
					}
				}
				s, err := Open(path, o)
				if !waits {
					os.Remove(path + ".paused")
					var ie *InUseError
					if !errors.As(err, &ie) || ie.PID != child.Process.Pid {
						t.Errorf("Open without HeldBy while a %s runs: %v; want it refused as in use by pid %d", op, err, child.Process.Pid)
					}
					if err == nil {
						s.Close()
					}
					if werr := <-done; werr != nil {
						t.Fatalf("the %s failed: %v\n%s", op, werr, out.String())
					}
					done <- nil
					return
				}
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				if named.Load() != int64(child.Process.Pid) {
					os.Remove(path + ".paused")
					t.Fatalf("the daemon's Open did not wait for the %s (HeldBy named pid %d, want %d): it opened the database at the command's first step", op, named.Load(), child.Process.Pid)
				}
				if werr := <-done; werr != nil {
					t.Fatalf("the %s failed (the daemon opened first?): %v\n%s", op, werr, out.String())
				}
				done <- nil
				if op == "restore" && s.DatabaseID() == oldID {
					t.Errorf("the daemon opened the database replaced, not the restored one")
				}
			})
		}
	}
}
