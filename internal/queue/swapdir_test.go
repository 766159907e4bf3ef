package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// victimDir is a directory elsewhere with a spool directory holding a
// file: what a link put at the data directory's name would lead to
// (/var/spool of a root-run command). It returns the directory and a
// check that nothing in it was renamed, removed or added.
func victimDir(t *testing.T) (string, func(when string)) {
	t.Helper()
	victim := t.TempDir()
	os.MkdirAll(filepath.Join(victim, "spool"), 0o700)
	os.WriteFile(filepath.Join(victim, "spool", "keep"), []byte("not umbra's\n"), 0o600)
	return victim, func(when string) {
		t.Helper()
		ents, _ := os.ReadDir(victim)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "spool" {
			t.Errorf("%s: the directory the link leads to holds %v, want only its spool", when, names)
		}
		if _, err := os.Stat(filepath.Join(victim, "spool", "keep")); err != nil {
			t.Errorf("%s: its spool's file: %v", when, err)
		}
	}
}

// swapForLink moves the data directory aside and puts a link to victim
// at its name: what the daemon's user may do in a directory of its own
// (/var/lib/umbra) while a db command runs as root.
func swapForLink(t *testing.T, dataDir, victim string) {
	if err := os.Rename(dataDir, dataDir+".moved"); err != nil {
		t.Error(err)
	}
	if err := os.Symlink(victim, dataDir); err != nil {
		t.Error(err)
	}
}

// OPS-3 (db restore without --owner): the restore renamed its copy over
// the database, installed the restored spool and moved the replaced
// spool aside by their paths: a data directory swapped for a link after
// the restore looked at it led root's renames into the directory the
// link names (its spool "moved aside"). The restore holds the data
// directory it checked (safepath.go) and works through that descriptor:
// a swap before the rename refuses the restore, the database unchanged;
// one after it changes nothing but the directory held.
func TestOPS3RestoreFollowsNoDataDirSwappedForALink(t *testing.T) {
	for _, at := range []string{"renamed", "locked"} {
		t.Run(at, func(t *testing.T) {
			parent := t.TempDir()
			dataDir := filepath.Join(parent, "data")
			os.Mkdir(dataDir, 0o750)
			backup, path := restoreFixture(t, dataDir)
			os.MkdirAll(filepath.Join(dataDir, "spool"), 0o750) // the replaced database's spool, with a body
			os.WriteFile(filepath.Join(dataDir, "spool", "0123456789ab"), []byte("body"), 0o600)
			victim, untouched := victimDir(t)
			defer func() { restoreStep = nil }()
			restoreStep = func(point string) {
				if point == at {
					swapForLink(t, dataDir, victim)
				}
			}
			_, err := RestoreWith(backup, path, RestoreOptions{})
			restoreStep = nil
			untouched("restore with the data directory swapped at " + at)
			if at == "locked" && (err == nil || !strings.Contains(err.Error(), "was replaced")) {
				t.Errorf("restore with the data directory swapped before its rename: %v, want refused as replaced", err)
			}
			if at == "renamed" && err != nil {
				t.Errorf("restore with the data directory swapped after its rename: %v", err)
			}
		})
	}
}

// OPS-3 (db compact as root): the compaction opened the data directory
// by its path for the spool files it wrote, removed a spool directory it
// made by path and renamed its copy by path: a data directory swapped
// for a link meanwhile led them into the directory the link names (an
// empty spool there removed by root). It holds the data directory it
// checked from its start and refuses a swap before the rename, changing
// nothing through the link.
func TestOPS3CompactFollowsNoDataDirSwappedForALink(t *testing.T) {
	parent := t.TempDir()
	dataDir := filepath.Join(parent, "data")
	os.Mkdir(dataDir, 0o750)
	path := filepath.Join(dataDir, "queue.db")
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
	os.RemoveAll(filepath.Join(dataDir, spoolDirName))
	victim, _ := victimDir(t)
	os.Remove(filepath.Join(victim, "spool", "keep")) // an empty spool: the one a failed compaction removes
	defer func() { compactStep = nil }()
	compactStep = func(point string) {
		if point == "respooled" {
			swapForLink(t, dataDir, victim)
		}
	}
	_, _, err = CompactSpooling(path, testThreshold)
	compactStep = nil
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Errorf("compaction with the data directory swapped: %v, want refused as replaced", err)
	}
	if _, err := os.Stat(filepath.Join(victim, "spool")); err != nil {
		t.Errorf("the empty spool the link leads to: %v", err)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 1 {
		t.Errorf("the directory the link leads to holds %d names, want its spool only", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(dataDir+".moved", spoolDirName)); len(ents) != 0 {
		t.Errorf("the failed compaction left %d spool files in the data directory", len(ents))
	}
}
