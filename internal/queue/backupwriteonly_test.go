package queue

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/testsupport"
)

// OPS-3: a db backup into a directory its user may write and search but
// not list (0300; held O_PATH) makes, writes, marks and links the copy,
// and the directory's durability (no fsync of a directory it may not
// open for reading) comes by a sync of its file system: one answer, the
// backup, never a failure with the backup at its name (which the next
// try would meet as "exists"). Run as the user nobody.
func TestOPS3BackupIntoWriteOnlyDirectoryIsOneAnswer(t *testing.T) {
	if !testsupport.AsNonRoot(t) {
		return
	}
	src, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	path := filepath.Join(dir, "b.db")
	_, err = SaveBackup(path, func(w io.Writer) (int64, error) { return src.Backup(w, nil) })
	os.Chmod(dir, 0o700)
	_, serr := os.Lstat(path)
	if err != nil && serr == nil {
		t.Errorf("backup into a write-only directory failed (%v), yet the backup is linked at %s: the operator is told it failed, and a retry finds the file exists", err, path)
	}
}
