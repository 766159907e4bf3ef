package queue

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// OPS-3: SyncDir of a directory this user may write but
// not read opens the linked name again (openat O_RDONLY, no
// O_NONBLOCK) to reach its file system. Whatever stands at that name by
// then is opened: a FIFO put there (by another writer of the drop
// directory, between Link and SyncDir) blocks the open until a writer
// comes — db backup hangs after the backup is linked. Here the FIFO is
// put in place by the test itself, the user being the directory's only
// writer.
func TestOPS3SyncDirWriteOnlyDoesNotHangOnFIFO(t *testing.T) {
	if !testsupport.AsNonRoot(t) {
		return
	}
	dir := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	tmp, err := CreateTempIn(dir, TempInOptions{Prefix: ".b.db.partial-"})
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if err := tmp.Link("b.db"); err != nil {
		t.Fatal(err)
	}
	// The name replaced by a FIFO before SyncDir.
	os.Remove(filepath.Join(dir, "b.db"))
	if err := syscall.Mkfifo(filepath.Join(dir, "b.db"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tmp.SyncDir() }()
	select {
	case err := <-done:
		t.Logf("SyncDir: %v", err)
	case <-time.After(3 * time.Second):
		// Unblock the open so the test ends.
		if f, err := os.OpenFile(filepath.Join(dir, "b.db"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("SyncDir hangs on a FIFO at the linked name (openat O_RDONLY without O_NONBLOCK)")
	}
}
