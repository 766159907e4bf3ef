package tracking

import (
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
// place is refused at once, not read for ever (rt11 F3).
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
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("searching a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second): // a bound on the test: the open must not wait at all
		t.Fatal("searching a FIFO as the tracking log hung")
	}
}
