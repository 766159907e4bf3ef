package queue

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daemon started while an offline db command (restore, compact)
// holds the database waits for it as long as it runs, not 2 s (rt25c
// F1, OPS-1: README "a daemon started meanwhile waits"): Options.HeldBy
// is asked past the first wait and again while it lasts, and Open
// opens once the holder lets go. Without HeldBy the old refusal stands.
func TestOpenWaitsForTheHolderWhileHeldBySaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	holder, err := lockDB(path, true, 0) // the db command's lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrInUse) {
		holder.Close()
		t.Fatalf("Open without HeldBy: %v, want in use", err)
	}
	asked := make(chan int, 16)
	opened := make(chan error, 1)
	go func() {
		st, err := Open(path, Options{HeldBy: func(pid int, command string) error {
			asked <- pid
			return nil
		}})
		if err == nil {
			st.Close()
		}
		opened <- err
	}()
	// Asked twice: the first wait (2 s) and one HeldByEvery after it,
	// already longer than the 2 s the daemon gave up after.
	for i := 0; i < 2; i++ {
		select {
		case <-asked:
		case err := <-opened:
			holder.Close()
			t.Fatalf("Open returned while the database was held: %v", err)
		case <-time.After(60 * time.Second):
			holder.Close()
			t.Fatal("HeldBy not asked")
		}
	}
	holder.Close() // the db command ends
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("Open after the holder let go: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Open did not open once the holder let go")
	}
}

// HeldBy's refusal (another umbra serve holds it) ends Open with its
// own words, not "damaged" or the bare in-use error.
func TestOpenRefusedByHeldByInItsWords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	holder, err := lockDB(path, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	_, err = Open(path, Options{HeldBy: func(pid int, command string) error {
		return errors.New("another umbra serve holds it")
	}})
	if err == nil || err.Error() != "another umbra serve holds it" || strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open: %v", err)
	}
}
