package queue

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OPS-3: the kernel's list of locks is written a page per read, and a
// line is skipped when another process lets go of a lock between two
// reads; the holder of a database went unnamed ("in use by another
// process") under load. A lock missing from one read of the list is
// looked for in the next. The list here is a FIFO whose first reading
// lacks the holder's line, as a skipped read does, and whose second has
// it.
func TestOPS3LockHolderFoundWhenOneReadSkipsItsLine(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "locks")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	file := lockedFile{major: 0xfe, minor: 0, ino: 9994614}
	other := "1: FLOCK  ADVISORY  WRITE 555 fe:00:1234 0 EOF\n"
	holder := "2: FLOCK  ADVISORY  WRITE 897 fe:00:9994614 0 EOF\n"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, list := range []string{other, other + holder} {
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // waits for the reader
			if err != nil {
				return
			}
			w.WriteString(list)
			w.Close()
		}
	}()
	pid, listed, err := listedLock(fifo, file, "WRITE")
	if err != nil || !listed || pid != 897 {
		t.Errorf("listedLock over a list whose first read skipped the holder: pid %d, listed %v, err %v; want pid 897", pid, listed, err)
	}
	// Let a writer still waiting for a reader go.
	if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		<-done
		r.Close()
	}
}
