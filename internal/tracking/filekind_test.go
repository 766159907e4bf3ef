package tracking

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// OPS-4: a tracking log path that holds no regular file is named by its
// kind — "is a directory", "is a socket", "is a device", "is a FIFO" —
// by the daemon's Open and by umbra track's Search alike, never by
// fs.FileMode's type letters ("d---------", "S---------") nor a socket
// taken for a FIFO (its open fails with ENXIO as a FIFO's does).
func TestTrackingLogNamesTheKindOfFile(t *testing.T) {
	dir := t.TempDir()
	kinds := map[string]string{}
	d := filepath.Join(dir, "dir.log")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	kinds[d] = "a directory"
	s := filepath.Join(dir, "sock.log")
	ln, err := net.Listen("unix", s)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	kinds[s] = "a socket"
	p := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	kinds[p] = "a FIFO"
	kinds["/dev/null"] = "a device" // the device itself: the log follows no symbolic link (TestOPS4OpenRefusesASymlink)
	for path, kind := range kinds {
		want := "tracking log " + path + " is " + kind + ", not a regular file"
		l, err := Open(path, 1<<20, 3)
		if err == nil {
			l.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "---") {
			t.Errorf("Open of %s: %v, want %q", kind, err, want)
		}
		_, err = Search(path, 0, Query{})
		var pe *Partial
		if !errors.As(err, &pe) || len(pe.Skipped) != 1 || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "---") {
			t.Errorf("Search of %s: %v, want %q", kind, err, want)
		}
	}
}
