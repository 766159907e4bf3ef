package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// plantedVictim is a directory elsewhere holding files at the names a
// restore or compaction gives its own copies (queue.db.restore,
// queue.db.restore-compact, queue.db.compact, spool.restore-staging),
// and a database of its own at queue.db: what a link put at the data
// directory's name would lead root's command to. The check says
// whether any name there was added, removed or changed.
func plantedVictim(t *testing.T) (string, func(when string)) {
	t.Helper()
	victim := t.TempDir()
	// A database of the victim's at queue.db, for a compaction that
	// reads its source by the data directory's name.
	s, err := Open(filepath.Join(victim, "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msg(s, "v@example.org", "w@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, bigContent(500<<10)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	planted := []string{"queue.db.restore", "queue.db.restore-compact", "queue.db.compact", "queue.db.compact-compact"}
	for _, name := range planted {
		os.WriteFile(filepath.Join(victim, name), []byte("not umbra's "+name+"\n"), 0o600)
	}
	os.MkdirAll(filepath.Join(victim, "spool"+restoreSpoolSuffix), 0o700)
	os.WriteFile(filepath.Join(victim, "spool"+restoreSpoolSuffix, "keep"), []byte("not umbra's\n"), 0o600)
	snapshot := func() map[string]string {
		out := map[string]string{}
		filepath.Walk(victim, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(victim, p)
			out[rel] = string(b)
			return nil
		})
		return out
	}
	before := snapshot()
	return victim, func(when string) {
		t.Helper()
		after := snapshot()
		var changed []string
		for name, b := range before {
			if a, ok := after[name]; !ok || a != b {
				changed = append(changed, name)
			}
		}
		for name := range after {
			if _, ok := before[name]; !ok {
				changed = append(changed, name+" (added)")
			}
		}
		slices.Sort(changed)
		if len(changed) > 0 {
			t.Errorf("%s: in the directory the link leads to, changed, removed or added: %v", when, changed)
		}
	}
}

// OPS-3 (db restore as root): the restore held the data directory from
// its start, but made its copy (queue.db.restore, with queue.db.restore-compact
// when compacting it), gave it its owner and locked it by path, and its
// failure paths before the first stillAt removed the copy and the
// staging spool by path: a data directory swapped for a link between
// the hold and that check led root's O_EXCL creations, writes and
// removals of those fixed names into the directory the link names.
func TestOPS3RestoreCopyMadeInTheHeldDirectory(t *testing.T) {
	parent := t.TempDir()
	dataDir := filepath.Join(parent, "data")
	os.Mkdir(dataDir, 0o750)
	backup, path := restoreFixture(t, dataDir)
	victim, untouched := plantedVictim(t)
	defer func() { restoreStep = nil }()
	restoreStep = func(point string) {
		if point == "held" {
			swapForLink(t, dataDir, victim)
		}
	}
	_, err := RestoreWith(backup, path, RestoreOptions{})
	restoreStep = nil
	untouched("restore with the data directory swapped after it was held")
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Errorf("restore with the data directory swapped: %v, want refused as replaced", err)
	}
	ents, _ := os.ReadDir(dataDir + ".moved")
	for _, e := range ents {
		if strings.Contains(e.Name(), ".restore") || strings.Contains(e.Name(), "-compact") {
			t.Errorf("the refused restore left %s in the data directory it held", e.Name())
		}
	}
}

// OPS-3 (db compact as root): its copy (queue.db.compact) was made,
// opened again, given its owner and locked by path after the data
// directory was held: swapped for a link meanwhile, they were made and
// written in the directory the link names.
func TestOPS3CompactCopyMadeInTheHeldDirectory(t *testing.T) {
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
	victim, untouched := plantedVictim(t)
	defer func() { compactStep = nil }()
	compactStep = func(point string) {
		if point == "begin" {
			swapForLink(t, dataDir, victim)
		}
	}
	_, _, err = CompactSpooling(path, testThreshold)
	compactStep = nil
	untouched("compaction with the data directory swapped after it was held")
	if err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Errorf("compaction with the data directory swapped: %v, want refused as replaced", err)
	}
	ents, _ := os.ReadDir(dataDir + ".moved")
	for _, e := range ents {
		if strings.Contains(e.Name(), ".compact") {
			t.Errorf("the refused compaction left %s in the data directory it held", e.Name())
		}
	}
}
