package queue

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// otherDataDir is a directory elsewhere holding another command's side
// lock: what a link put at the data directory's name leads to. It
// returns the directory and a check that its side lock is still there,
// unchanged.
func otherDataDir(t *testing.T) (string, func(when string)) {
	t.Helper()
	other := t.TempDir()
	lock := filepath.Join(other, "queue.db"+cmdLockSuffix)
	words := []byte("4242\nanother command's side lock\n")
	if err := os.WriteFile(lock, words, 0o644); err != nil {
		t.Fatal(err)
	}
	return other, func(when string) {
		t.Helper()
		if b, err := os.ReadFile(lock); err != nil || !bytes.Equal(b, words) {
			t.Errorf("%s: the side lock where the link leads: %q, %v; want it left as it was", when, b, err)
		}
		ents, _ := os.ReadDir(other)
		if len(ents) != 1 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s: the directory the link leads to holds %v, want its side lock only", when, names)
		}
	}
}

// compactFixture is a data directory's database with a message queued.
func compactFixture(t *testing.T, dataDir string) string {
	t.Helper()
	path := filepath.Join(dataDir, "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.PutNew(m, []byte("From: a@example.org\r\n\r\nqueued\r\n"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return path
}

// OPS-3 (rt30c F3): db restore and db compact removed their side lock
// (queue.db.cmdlock) at their end by its path: a data directory moved
// and replaced by a link meanwhile (its parent may be the daemon's
// user's, the command root's) led that removal through the link — the
// side lock of the directory the link names was removed, and the
// command's own was left in the directory it held. The side lock is
// made, locked and removed in the directory the command holds, through
// its descriptor.
func TestOPS3SideLockRemovedInTheHeldDirectory(t *testing.T) {
	for _, command := range []string{"restore", "compact"} {
		t.Run(command, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dataDir, 0o750)
			other, untouched := otherDataDir(t)
			swap := func(point string) {
				if point == "end" {
					swapForLink(t, dataDir, other)
				}
			}
			var err error
			if command == "restore" {
				backup, path := restoreFixture(t, dataDir)
				restoreStep = swap
				defer func() { restoreStep = nil }()
				_, err = RestoreWith(backup, path, RestoreOptions{})
				restoreStep = nil
			} else {
				path := compactFixture(t, dataDir)
				compactStep = swap
				defer func() { compactStep = nil }()
				_, _, err = CompactWith(path, testThreshold, 0, CompactOptions{})
				compactStep = nil
			}
			if err != nil {
				t.Fatalf("%s: %v", command, err)
			}
			untouched(command + " with the data directory swapped at its end")
			if _, err := os.Lstat(filepath.Join(dataDir+".moved", "queue.db"+cmdLockSuffix)); err == nil {
				t.Errorf("%s left its own side lock in the directory it held", command)
			}
		})
	}
}

// OPS-3 (rt30c F3): a data directory replaced by a link after the
// command's rename (its commit point) leaves the command done in the
// directory it held, which the data directory's path no longer names:
// db restore said "restored … as DATA/queue.db", a path that led to the
// other, unchanged database, and db compact reported the size of the
// file there. The command says where the directory it worked in is now
// (DirReplaced), and reports that directory's file.
func TestOPS3CommandSaysTheDataDirWasReplacedAfterItsRename(t *testing.T) {
	for _, command := range []string{"restore", "compact"} {
		t.Run(command, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dataDir, 0o750)
			other, untouched := otherDataDir(t)
			swap := func(point string) {
				if point == "renamed" {
					swapForLink(t, dataDir, other)
				}
			}
			var told []string
			replaced := func(now string) { told = append(told, now) }
			var err error
			var after int64
			if command == "restore" {
				backup, path := restoreFixture(t, dataDir)
				restoreStep = swap
				defer func() { restoreStep = nil }()
				_, err = RestoreWith(backup, path, RestoreOptions{DirReplaced: replaced})
				restoreStep = nil
			} else {
				path := compactFixture(t, dataDir)
				compactStep = swap
				defer func() { compactStep = nil }()
				_, after, err = CompactWith(path, testThreshold, 0, CompactOptions{DirReplaced: replaced})
				compactStep = nil
			}
			if err != nil {
				t.Fatalf("%s with the data directory swapped after its rename: %v", command, err)
			}
			untouched(command + " with the data directory swapped after its rename")
			if len(told) != 1 || told[0] != dataDir+".moved" {
				t.Errorf("%s told the directory it held is now at %q, want [%s]", command, told, dataDir+".moved")
			}
			if command == "compact" {
				fi, err := os.Stat(filepath.Join(dataDir+".moved", "queue.db"))
				if err != nil || fi.Size() != after {
					t.Errorf("compact reported %d bytes after, the file it wrote has %v (%v)", after, fi, err)
				}
			}
		})
	}
}

// OPS-3 (rt30c F4): with queue.db a symbolic link to a database
// elsewhere (which serve opens as before), db compact turned the link
// into a file in the data directory and left the old database at the
// link's target, saying nothing — put the link back, and its mail was
// delivered a second time; db restore kept no queue.db.replaced-TIME
// and named none. Both are refused, naming the link and its target,
// before anything is read or written: the link, its target and the data
// directory are left as they were.
func TestOPS3LinkedDatabaseRefusedByCompactAndRestore(t *testing.T) {
	for _, command := range []string{"compact", "restore"} {
		t.Run(command, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dataDir, 0o750)
			var backup string
			path := filepath.Join(dataDir, "queue.db")
			if command == "restore" {
				backup, _ = restoreFixture(t, dataDir)
			} else {
				compactFixture(t, dataDir)
			}
			target := filepath.Join(t.TempDir(), "queue.db")
			if err := os.Rename(path, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(target)
			names := func() string {
				ents, _ := os.ReadDir(dataDir)
				var n []string
				for _, e := range ents {
					n = append(n, e.Name())
				}
				return strings.Join(n, " ")
			}
			was := names()
			var err error
			if command == "restore" {
				// --discard-newer: what it would leave behind is no refusal.
				_, err = RestoreWith(backup, path, RestoreOptions{SpoolThreshold: testThreshold,
					Lost: func([]NotInBackup, bool) error { return nil }})
			} else {
				_, _, err = CompactWith(path, testThreshold, 0, CompactOptions{})
			}
			if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), target) {
				t.Errorf("%s of a linked queue.db: %v; want it refused naming the link and %s", command, err, target)
			}
			if got, lerr := os.Readlink(path); lerr != nil || got != target {
				t.Errorf("%s: queue.db is no longer the link to %s: %q, %v", command, target, got, lerr)
			}
			if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
				t.Errorf("%s changed the database the link leads to", command)
			}
			if now := names(); now != was {
				t.Errorf("%s changed the data directory: %q, was %q", command, now, was)
			}
		})
	}
}

// OPS-3 (rt30c F3, its sibling in db restore's lock on the database):
// with no database yet, the restore's lock makes an empty queue.db
// (rr24 F2) — by its path, after the data directory was held: a data
// directory swapped for a link in between had root make that file where
// the link leads (and, before the directory was held first, the whole
// restore was done there). The lock is taken, and the file made, in the
// directory held; the swap refuses the restore before its rename.
func TestOPS3RestoreLockMakesNothingWhereASwappedLinkLeads(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	os.Mkdir(dataDir, 0o750)
	backup, path := restoreFixture(t, dataDir)
	os.Remove(path) // a machine rebuilt: no database yet
	os.RemoveAll(filepath.Join(dataDir, spoolDirName))
	other := t.TempDir()
	restoreStep = func(point string) {
		if point == "begin" {
			swapForLink(t, dataDir, other)
		}
	}
	defer func() { restoreStep = nil }()
	_, err := RestoreWith(backup, path, RestoreOptions{Lost: func([]NotInBackup, bool) error { return nil }})
	restoreStep = nil
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Errorf("restore with the data directory swapped before its lock: %v, want refused as replaced", err)
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Errorf("the restore made %s where the link leads", ents[0].Name())
	}
	if ents, _ := os.ReadDir(dataDir + ".moved"); len(ents) != 0 {
		t.Errorf("the refused restore left %s in the directory it held", ents[0].Name())
	}
}

// OPS-3 (rt30c F3, its sibling in db backup): the backup's partial copy
// was made, linked to FILE and removed by paths in FILE's directory, and
// the directory synced by its path: a directory replaced by a link while
// the daemon streamed the backup had the link and the removal done where
// the link leads (the check that FILE lies in no spool or Maildir tree,
// CheckBackupTarget, was of the directory before). The directory is
// held from the start: a replaced one refuses the backup, its partial
// copy removed from the directory held, nothing done where the link
// leads.
func TestOPS3BackupFollowsNoDirectorySwappedForALink(t *testing.T) {
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := filepath.Join(t.TempDir(), "backups")
	os.Mkdir(dir, 0o750)
	other := t.TempDir()
	path := filepath.Join(dir, "b.db")
	_, err = SaveBackup(path, func(w io.Writer) (int64, error) {
		n, err := src.Backup(w, nil)
		swapForLink(t, dir, other)
		return n, err
	})
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Errorf("backup with its directory swapped for a link: %v, want refused as replaced", err)
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Errorf("the backup made %s where the link leads", ents[0].Name())
	}
	if ents, _ := os.ReadDir(dir + ".moved"); len(ents) != 0 {
		t.Errorf("the refused backup left %s in the directory it held", ents[0].Name())
	}
}
