package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The crash argument of umbra db restore (OPS-3, ops24 2): a restore
// killed with SIGKILL at any of its steps leaves either the database
// it replaces or the restored one at the database's name — never none,
// never one whose messages lack their bodies (half) — and at every
// step the database's name is locked by the restore, so that a daemon
// starting meanwhile waits and a command says "starting" (or a db
// command runs), not "not running": after its rename the restored file
// was unlocked while the restore still moved spool directories under
// it. A child process (this test binary) restores and pauses at the
// step named; the parent looks at the lock, kills it, and opens what is
// left as a start does.

const restoreKillEnv = "UMBRA_RESTORE_KILL_AT"

// TestRestoreKillChild is the child's part, run by the test below.
func TestRestoreKillChild(t *testing.T) {
	at := os.Getenv(restoreKillEnv)
	if at == "" {
		t.Skip("run by TestRestoreKilledAtEveryStepLeavesOneWholeDatabase")
	}
	path, backup := os.Getenv("UMBRA_RESTORE_KILL_DB"), os.Getenv("UMBRA_RESTORE_KILL_BACKUP")
	restoreStep = func(point string) {
		if point != at {
			return
		}
		if err := os.WriteFile(path+".paused", []byte(point), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // killed here
		t.Fatal("not killed")
	}
	if _, err := RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold}); err != nil {
		t.Fatal(err)
	}
	// The step after the last: the parent kills an ended restore.
	restoreStep("end")
}

func TestRestoreKilledAtEveryStepLeavesOneWholeDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process per step")
	}
	ctx := context.Background()
	put := func(s *Store, body []byte, spool bool, into map[ID][]byte) {
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		err := s.Update(ctx, func(tx *Tx) error {
			if spool {
				return tx.PutNewBody(m, spooled(t, s, body))
			}
			return tx.PutNew(m, body)
		})
		if err != nil {
			t.Fatal(err)
		}
		into[m.ID] = body
	}
	// Two backups: one with a spooled body (back into a spool file at
	// restore, through spool.restore) and a small one; one with small
	// bodies only (the replaced spool directory moved aside after the
	// rename).
	type backupCase struct {
		name   string
		path   string
		bodies map[ID][]byte
		steps  []string
	}
	var cases []backupCase
	for _, spooledToo := range []bool{true, false} {
		src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := backupCase{name: "small", bodies: map[ID][]byte{},
			steps: []string{"copied", "respooled", "compacted", "locked", "kept", "renamed", "spool-moved", "end"}}
		if spooledToo {
			c.name = "spooled"
			c.steps = []string{"copied", "respooled", "compacted", "locked", "kept", "renamed", "spool-aside", "spool-installed", "end"}
			put(src, bigContent(700<<10), true, c.bodies)
		}
		put(src, []byte("From: a@example.org\r\n\r\nbacked up\r\n"), false, c.bodies)
		c.path = filepath.Join(t.TempDir(), "backup.db")
		if _, err := src.WriteBackup(c.path); err != nil {
			t.Fatal(err)
		}
		src.Close()
		cases = append(cases, c)
	}
	for _, bc := range cases {
		backup, backed, steps := bc.path, bc.bodies, bc.steps
		for i, step := range steps {
			restored := i >= slices.Index(steps, "renamed")
			t.Run(bc.name+"/"+step, func(t *testing.T) {
				// The database replaced: its own messages, one spooled.
				path := filepath.Join(t.TempDir(), "data", "queue.db")
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				old, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				before := map[ID][]byte{}
				put(old, append(bigContent(500<<10), "old\r\n"...), true, before)
				put(old, []byte("From: a@example.org\r\n\r\nold\r\n"), false, before)
				if err := old.Close(); err != nil {
					t.Fatal(err)
				}
				cmd, kill := pauseRestoreAt(t, backup, path, step)
				// At every step before its end the restore holds the
				// database's name: a start waits, a command says so.
				if held, pid, _ := LockHolder(path); step != "end" && (!held || pid != 0 && pid != cmd.Process.Pid) {
					t.Errorf("at step %s the database %s is not locked by the restore (held %v, by pid %d; the restore is %d): a daemon may open it, a command says not running",
						step, path, held, pid, cmd.Process.Pid)
				}
				kill()
				// What a start finds: one database, whole.
				s, err := Open(path, Options{})
				if err != nil {
					t.Fatalf("open after a restore killed at %s: %v", step, err)
				}
				defer s.Close()
				// rt28c F4: the replaced database and its spool directory
				// beside it carry the same suffix, also when a start
				// finished the restore, and the start says it did.
				if restored {
					ents, _ := os.ReadDir(filepath.Dir(path))
					var dbs, spools []string
					for _, e := range ents {
						if suf, ok := strings.CutPrefix(e.Name(), "queue.db.replaced-"); ok {
							dbs = append(dbs, suf)
						}
						if suf, ok := strings.CutPrefix(e.Name(), "spool.replaced-"); ok {
							spools = append(spools, suf)
						}
					}
					if len(dbs) != 1 || len(spools) != 1 || dbs[0] != spools[0] {
						t.Errorf("killed at %s: the replaced database queue.db.replaced-%v beside spool.replaced-%v, want one suffix", step, dbs, spools)
					}
					if step == "renamed" && len(s.RestoreFinished()) == 0 {
						t.Errorf("killed at %s: the start that finished the restore says nothing of it", step)
					}
				}
				want, which := before, "the database it replaced"
				if restored {
					want, which = backed, "the restored database"
				}
				got := map[ID][]byte{}
				err = s.View(func(tx *Tx) error {
					tx.ForEach(func(m *Message, err error) bool {
						if err != nil {
							t.Errorf("a record after a kill at %s: %v", step, err)
							return true
						}
						b, err := tx.Body(m.ID)
						if err != nil {
							t.Errorf("the body of %s after a kill at %s: %v", m.ID, step, err)
						}
						got[m.ID] = b
						return true
					})
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("killed at %s: %d messages, want %s's %d", step, len(got), which, len(want))
				}
				for id, b := range want {
					if !bytes.Equal(got[id], b) {
						t.Fatalf("killed at %s: message %s of %s is missing or not whole (%d bytes, want %d)", step, id, which, len(got[id]), len(b))
					}
				}
			})
		}
	}
}

// The same for umbra db compact (OPS-3, ops24 2): the compacted copy is
// locked before it takes the database's name, so the name is locked at
// every moment of the compaction, also after its rename while its spool
// directory is given its owner — a daemon starting then waits, and a
// command says a db command runs, not "not running".
func TestCompactHoldsTheDatabaseAfterItsRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.PutNewBody(m, spooled(t, s, bigContent(300<<10)))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old := compactRename
	defer func() { compactRename = old }()
	renamed, held := false, false
	compactRename = func(tmp, to string) error {
		rename := old
		if rename == nil {
			rename = syncRename // by path: the test's data directory stays where it is
		}
		err := rename(tmp, to)
		renamed = err == nil
		held, _, _ = LockHolder(to) // another open file: flock tells this process's own lock too
		return err
	}
	if _, _, err := CompactSpooling(path, testThreshold); err != nil {
		t.Fatal(err)
	}
	if !renamed || !held {
		t.Fatalf("after the compacted copy took the name %s: renamed %v, locked %v; want it locked until the compaction ends", path, renamed, held)
	}
	if h, _, _ := LockHolder(path); h {
		t.Fatalf("%s still locked after the compaction ended", path)
	}
}
