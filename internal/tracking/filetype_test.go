package tracking

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO in the tracking log's place is refused at once with its name;
// before, opening it for writing waited for a reader and the daemon's
// start hung there.
func TestOpenRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		l, err := Open(path, 1<<20, 3)
		if err == nil {
			l.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "FIFO") {
			t.Fatalf("a FIFO as the tracking log: %v", err)
		}
	case <-time.After(10 * time.Second): // a bound on the test: the open must not wait at all
		t.Fatal("opening a FIFO as the tracking log hung")
	}
}

// umbra track reads the log files itself (Search): a FIFO in the log's
// place is not read for ever (rt11 F3) but skipped at once, named in a
// *Partial error.
func TestSearchRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tracking.log")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Search(path, 3, Query{})
		done <- err
	}()
	select {
	case err := <-done:
		var p *Partial
		if !errors.As(err, &p) || len(p.Skipped) != 1 || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("searching a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second): // a bound on the test: the open must not wait at all
		t.Fatal("searching a FIFO as the tracking log hung")
	}
}

// One rotated file that cannot be read (a FIFO, no permission) does not
// fail the search: it is skipped, named in a *Partial error, and the
// entries of the other files are returned.
func TestSearchSkipsUnreadableRotatedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracking.log")
	line := func(id string) string {
		return `{"time":"2026-12-01T10:00:00Z","event":"receive","msg_id":"` + id + `"}` + "\n"
	}
	for name, content := range map[string]string{path: line("a"), path + ".1": line("b"), path + ".3": line("d")} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(path+".2", 0o600); err != nil {
		t.Fatal(err)
	}
	es, err := Search(path, 3, Query{})
	var p *Partial
	if !errors.As(err, &p) || len(p.Skipped) != 1 || p.Skipped[0].Name != path+".2" {
		t.Fatalf("want the FIFO %s skipped, got %v", path+".2", err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "d,b,a" {
		t.Fatalf("entries %v, want those of the readable files, oldest first", ids)
	}
}
