package queue

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// OPS-3: SaveBackup removes the partial copy a killed backup to
// the same file left (its doc, and RemoveStalePartials's promise: "a
// later backup to the same file removes the partial copy a killed one
// left"), listing the directory it holds through its own descriptor (a
// name built from the held directory's path once named a file inside
// it, listed nothing and removed nothing).
func TestOPS3SaveBackupRemovesAKilledBackupsPartial(t *testing.T) {
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := filepath.Join(t.TempDir(), "backups")
	os.Mkdir(dir, 0o750)
	path := filepath.Join(dir, "b.db")
	// A killed backup's partial copy: marked, unlocked, its writer gone.
	stale := filepath.Join(dir, ".b.db.partial-L999999-deadbeef")
	if err := os.WriteFile(stale, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveBackup(path, func(w io.Writer) (int64, error) { return src.Backup(w, nil) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Errorf("SaveBackup left the killed backup's partial copy %s", stale)
	}
}
