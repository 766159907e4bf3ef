package queue

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Q-5, OPS-3 (rt31c F1): a second db restore killed before it replaces
// anything, run while queue.db is a restored database not started yet,
// leaves its staging spool.restore beside a database that still carries
// its backup mark. The start took that mark for "this restore got past
// its rename": it moved the live spool (the first restore's bodies) aside,
// put the killed restore's spool.restore in its place and held the
// acknowledged message as poison, its spool file missing. A restore's
// staging spool is installed only when the database in place is the one
// that restore wrote (its own restore id, in both); anything else is the
// leftover of a restore that replaced nothing, removed.
func TestQ5SecondRestoreKilledBeforeItsRenameKeepsTheFirstsSpool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process per step")
	}
	ctx := context.Background()
	put := func(s *Store, body []byte, into map[ID][]byte) {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, spooled(t, s, body)) }); err != nil {
			t.Fatal(err)
		}
		into[m.ID] = body
	}
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	backed := map[ID][]byte{}
	put(src, bigContent(600<<10), backed)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	for _, step := range []string{"copied", "respooled", "compacted", "locked", "kept"} {
		t.Run(step, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "queue.db")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			old, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			put(old, append(bigContent(300<<10), "old\r\n"...), map[ID][]byte{})
			old.Close()
			// The first restore, done; umbra not started since.
			if _, err := RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
				t.Fatal(err)
			}
			spoolBefore, _ := os.ReadDir(filepath.Join(filepath.Dir(path), "spool"))
			// The second, killed before its rename.
			killRestoreAt(t, backup, path, step)
			_, serr := os.Lstat(path + asideSuffixName)
			suffixLeft := serr == nil
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("open after a second restore killed at %s: %v", step, err)
			}
			defer s.Close()
			// lifert43 F3: the suffix file the killed restore left is
			// removed as a leftover of it, and said so.
			if suffixLeft && !slices.Contains(s.Leftovers(), path+asideSuffixName) {
				t.Errorf("killed at %s: the start removed %s without naming it among the leftovers: %q", step, path+asideSuffixName, s.Leftovers())
			}
			if f := s.RestoreFinished(); len(f) != 0 {
				t.Errorf("killed at %s, before its rename: the start says it finished that restore: %q", step, f)
			}
			if m := s.MissingSpool(); len(m) != 0 {
				t.Errorf("killed at %s: spool files the database in place names are missing at start: %q", step, m)
			}
			spoolAfter, _ := os.ReadDir(filepath.Join(filepath.Dir(path), "spool"))
			if a, b := names(spoolBefore), names(spoolAfter); a != b || a == "" {
				t.Errorf("killed at %s: the live spool directory held %v, after the start %v", step, names(spoolBefore), names(spoolAfter))
			}
			ents, _ := os.ReadDir(filepath.Dir(path))
			for _, e := range ents {
				if e.Name() == "spool.restore" {
					t.Errorf("killed at %s: the start left %s", step, e.Name())
				}
			}
			err = s.View(func(tx *Tx) error {
				n := 0
				tx.ForEach(func(m *Message, err error) bool {
					n++
					if err != nil {
						t.Errorf("killed at %s: a record: %v", step, err)
						return true
					}
					if b, err := tx.Body(m.ID); err != nil || !bytes.Equal(b, backed[m.ID]) {
						t.Errorf("killed at %s: message %s of the restored database lost its body (%d bytes, %v)", step, m.ID, len(b), err)
					}
					return true
				})
				if n != len(backed) {
					t.Errorf("killed at %s: %d messages, want %d", step, n, len(backed))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func names(ents []os.DirEntry) string {
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return strings.Join(n, ",")
}

// killRestoreAt runs a restore of backup over path in a child process
// (TestRestoreKillChild) and kills it (SIGKILL) at step.
func killRestoreAt(t *testing.T, backup, path, step string) {
	t.Helper()
	_, kill := pauseRestoreAt(t, backup, path, step)
	kill()
}

// pauseRestoreAt runs a restore of backup over path in a child process
// (TestRestoreKillChild) and returns once it has paused at step: its
// command, and kill, which kills it (SIGKILL) there and waits for it.
func pauseRestoreAt(t *testing.T, backup, path, step string) (cmd *exec.Cmd, kill func()) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^TestRestoreKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), restoreKillEnv+"="+step, "UMBRA_RESTORE_KILL_DB="+path, "UMBRA_RESTORE_KILL_BACKUP="+backup)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path + ".paused"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the restore ended before step %s: %v\n%s", step, err, out.Bytes())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the restore did not reach step %s\n%s", step, out.Bytes())
		}
	}
	return cmd, func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		os.Remove(path + ".paused")
	}
}

// Q-5, OPS-3 (rt31c F1, its sibling in db restore): a restore killed
// after its rename leaves its bodies in spool.restore for the start to
// install. A second restore run before any start removed that directory
// as "a killed restore's" leftover: killed itself before its rename, it
// left the first one's database naming spool files that were gone; run
// to its end, it kept the first one's database as queue.db.replaced-TIME
// beside a spool.replaced-TIME that was not its spool. The second restore
// finishes the first (its staging spool installed, as a start would)
// before it works.
func TestQ5RestoreAfterOneKilledPastItsRenameKeepsItsBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	backed := map[ID][]byte{}
	m := msg(src, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	body := bigContent(600 << 10)
	if err := src.Update(ctx, func(tx *Tx) error { return tx.PutNewBody(m, spooled(t, src, body)) }); err != nil {
		t.Fatal(err)
	}
	backed[m.ID] = body
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	src.Close()
	for _, second := range []string{"kept", "done"} {
		t.Run(second, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", "queue.db")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			old, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			old.Close()
			killRestoreAt(t, backup, path, "renamed")
			if second == "done" {
				kept, err := RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold})
				if err != nil {
					t.Fatal(err)
				}
				// The first restore's database, kept aside, beside the
				// spool directory of the same suffix that holds its bodies.
				suffix := strings.TrimPrefix(kept, path)
				ents, _ := os.ReadDir(filepath.Join(filepath.Dir(path), "spool"+suffix))
				if kept == "" || names(ents) == "" {
					t.Errorf("the database the second restore replaced (%q) was kept beside an empty or missing spool%s: its bodies are gone", kept, suffix)
				}
				return
			}
			killRestoreAt(t, backup, path, second)
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if miss := s.MissingSpool(); len(miss) != 0 {
				t.Errorf("spool files of the first restore's database missing at start: %q", miss)
			}
			s.View(func(tx *Tx) error {
				tx.ForEach(func(m *Message, err error) bool {
					if b, err := tx.Body(m.ID); err != nil || !bytes.Equal(b, backed[m.ID]) {
						t.Errorf("message %s lost its body (%d bytes, %v)", m.ID, len(b), err)
					}
					return true
				})
				return nil
			})
		})
	}
}
