package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A compaction that fails at its last step — the rename of the copy over
// the database — leaves everything as it was: the database, and the
// spool directory and the files in it, their owners and modes too. It
// gives the database's owner only to what it wrote itself before the
// rename (the copy, the spool files it made); a spool directory that was
// there already is the daemon's, given only once the copy is in place.
func TestFailedCompactionChangesNoOwner(t *testing.T) {
	for _, spoolThere := range []bool{true, false} {
		name := map[bool]string{true: "spool there", false: "no spool"}[spoolThere]
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
			spool := filepath.Join(dir, spoolDirName)
			os.RemoveAll(spool)
			kept := filepath.Join(spool, "0123456789ab")
			if spoolThere {
				if err := os.Mkdir(spool, 0o750); err != nil {
					t.Fatal(err)
				}
				os.Chmod(spool, 0o750)
				if err := os.WriteFile(kept, []byte("a body of another message"), 0o640); err != nil {
					t.Fatal(err)
				}
				os.Chmod(kept, 0o640)
			}
			os.Chmod(path, 0o600)
			if os.Geteuid() == 0 {
				os.Chown(path, 4321, 4321)
			}
			dbBefore, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			old := compactRename
			compactRename = func(tmp, path string) error { return errors.New("rename refused (test)") }
			defer func() { compactRename = old }()
			if _, _, err := CompactSpooling(path, testThreshold); err == nil {
				t.Fatal("the compaction succeeded with its rename refused")
			}
			if dbAfter, _ := os.ReadFile(path); !bytes.Equal(dbBefore, dbAfter) {
				t.Error("the database changed")
			}
			if !spoolThere {
				if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the spool directory the compaction made is left: %v", err)
				}
				return
			}
			ents, _ := os.ReadDir(spool)
			if len(ents) != 1 {
				t.Errorf("spool holds %d files, want only the one that was there", len(ents))
			}
			for p, mode := range map[string]os.FileMode{spool: 0o750, kept: 0o640} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: mode %v after a failed compaction, want %v as before", p, fi.Mode().Perm(), mode)
				}
				if st := fi.Sys().(*syscall.Stat_t); st.Uid != uint32(os.Geteuid()) {
					t.Errorf("%s: owner %d after a failed compaction, want %d as before", p, st.Uid, os.Geteuid())
				}
			}
		})
	}
}

// A successful compaction gives the database's owner to the spool
// directory that was there and to the files it spooled, and changes no
// other file of the directory (another message's body, as it was).
func TestCompactionChangesOnlyItsOwnSpoolFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
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
	spool := filepath.Join(dir, spoolDirName)
	os.RemoveAll(spool)
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(spool, "0123456789ab")
	if err := os.WriteFile(kept, []byte("a body of another message"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(kept, 0o640)
	os.Chown(kept, 5555, 5555)
	os.Chmod(path, 0o600)
	os.Chown(path, 4321, 4321)
	if _, _, err := CompactSpooling(path, testThreshold); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(spool)
	if len(ents) < 2 {
		t.Fatalf("spool holds %d files, want the body spooled beside the one that was there", len(ents))
	}
	for _, e := range ents {
		p := filepath.Join(spool, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if p == kept {
			if st.Uid != 5555 || fi.Mode().Perm() != 0o640 {
				t.Errorf("%s, not the compaction's: owner %d mode %v, want 5555 and 0640 as before", p, st.Uid, fi.Mode().Perm())
			}
		} else if st.Uid != 4321 {
			t.Errorf("%s, spooled by the compaction: owner %d, want the database's 4321", p, st.Uid)
		}
	}
	if fi, err := os.Stat(spool); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 4321 {
		t.Errorf("the spool directory: %v, want the database's owner 4321", err)
	}
}
