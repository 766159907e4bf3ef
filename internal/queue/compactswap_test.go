package queue

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// OPS-3 (ops26 3, security): a compaction run as root gives the spool
// files it wrote the database's owner by descriptor, from the spool
// directory opened once beside the database without following a
// symlink — not by a path through it. The spool directory belongs to
// the daemon's user, who may swap it for a symlink while the
// compaction runs: the owner was given to the file of that name in the
// directory the link names (walkOwned opened spool by path, following
// it), and a failure after it removed that file.
func TestCompactGivesOwnerThroughNoSwappedSpool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gives files to another user: needs root")
	}
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "compaction ends", true: "compaction fails"}[fail]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "queue.db")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := msg(s, "a@example.org", "b@example.test")
			m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
			if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, bigContent(500<<10)) }); err != nil {
				t.Fatal(err)
			}
			s.Close()
			const owner = 4321
			os.Chown(path, owner, owner)
			spool := filepath.Join(dir, spoolDirName)
			elsewhere := filepath.Join(t.TempDir(), "elsewhere")
			if err := os.Mkdir(elsewhere, 0o755); err != nil {
				t.Fatal(err)
			}
			var victim string
			defer func() { compactStep = nil }()
			swap := func() {
				ents, err := os.ReadDir(spool)
				if err != nil || len(ents) == 0 {
					t.Errorf("no spool file written before the owner is given: %v", err)
					return
				}
				// The daemon's user swaps the spool directory for a link to
				// a directory holding a file of the same name.
				victim = filepath.Join(elsewhere, ents[0].Name())
				if err := os.WriteFile(victim, []byte("not umbra's"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(spool, spool+".moved"); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(elsewhere, spool); err != nil {
					t.Fatal(err)
				}
			}
			if fail {
				// Swapped after the files were given their owner; the
				// compaction then fails and removes what it wrote.
				old := compactRename
				compactRename = func(tmp, path string) error { swap(); return os.ErrPermission }
				defer func() { compactRename = old }()
			} else {
				compactStep = func(point string) {
					if point == "respooled" {
						swap()
					}
				}
			}
			_, _, err = CompactSpooling(path, testThreshold)
			t.Logf("compaction: %v", err)
			if victim == "" {
				t.Fatal("the compaction wrote no spool file")
			}
			fi, err := os.Lstat(victim)
			if err != nil {
				t.Fatalf("the file the swapped link names is gone: %v", err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
				t.Errorf("the file the swapped link names was given uid %d: the owner went through the link", st.Uid)
			}
			if fail {
				// What it wrote is removed where it wrote it.
				if ents, _ := os.ReadDir(spool + ".moved"); len(ents) != 0 {
					t.Errorf("the failed compaction left its spool files: %v", ents)
				}
			}
		})
	}
}
