package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: db restore --owner, the data directory swapped
// for a link (its parent the daemon's user's) after the replaced
// database got its second name. chownDir walks the path and refuses the
// link, and the refusal cleans up by path (os.Remove(tmp),
// os.RemoveAll(staging), os.Remove(kept)) — through the link — instead
// of through the held data directory (undo), as 7150b23f made the
// keepReplacedAt refusal do: the held directory keeps the restore's
// copy, its spool.restore and a second name of the live database.
func TestOPS3RestoreOwnerRefusalCleansUpThroughHeldDir(t *testing.T) {
	const nobody = 65534
	parent := t.TempDir()
	dataDir := filepath.Join(parent, "data")
	os.Mkdir(dataDir, 0o750)
	backup, path := restoreFixture(t, dataDir)
	if err := os.Chown(parent, nobody, nobody); err != nil { // the daemon's user's (/var/lib/umbra)
		t.Skip("needs root:", err)
	}
	victim := t.TempDir()
	defer func() { restoreStep = nil }()
	restoreStep = func(point string) {
		if point == "kept" {
			if err := os.Rename(dataDir, dataDir+".moved"); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(victim, dataDir); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := RestoreWith(backup, path, RestoreOptions{Owner: &Owner{UID: nobody, GID: nobody}, GiveDataDir: true,
		SpoolThreshold: 1})
	restoreStep = nil
	if err == nil || !strings.Contains(err.Error(), "database is unchanged") {
		t.Fatalf("restore --owner with the data directory swapped after kept: %v, want refused, the database unchanged", err)
	}
	t.Logf("refused: %v", err)
	ents, _ := os.ReadDir(dataDir + ".moved")
	var left []string
	for _, e := range ents {
		if n := e.Name(); n != "queue.db" && n != "spool" && n != "queue.db.cmdlock" {
			left = append(left, n)
		}
	}
	if len(left) > 0 {
		t.Errorf("the refused restore left %v in the data directory it held (removed by path, through the link, instead)", left)
	}
}
