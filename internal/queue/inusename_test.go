package queue

import (
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt31c F4): db compact while the database is in use named it
// /proc/self/fd/8/queue.db — the path through the data directory it
// holds — instead of the path the operator knows; db restore named it
// right. Every db command that works through its held data directory
// names the database as given.
func TestOPS3InUseDatabaseNamedAsGiven(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s of a database in use: no error", what)
		}
		if strings.Contains(err.Error(), "/proc/") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s of a database in use: %q, want it named %s", what, err, path)
		}
	}
	_, _, err = CompactWith(path, 0, 0, CompactOptions{})
	check("compact", err)
	_, err = RestoreWith(backup, path, RestoreOptions{})
	check("restore", err)
}
