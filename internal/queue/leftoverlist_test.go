package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/leftover"
)

// OPS-3 (rt32c F1, rt33c F3): the start removes what the one list names
// (leftover.Beside), the list the commands refuse as a file they write,
// and reports every file it removed (Leftovers) for the log: a killed
// backup's snapshot went without a word. The restore's own names (its
// staging spool, the suffix a restored database keeps) are left to the
// restore's tests.
func TestOpenRemovesAndReportsEveryListedLeftover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var want []string
	for _, n := range leftover.Beside(path) {
		switch n.Kind {
		case leftover.Snapshot:
			for _, name := range []string{n.Base + "123", n.Base + "spool-9"} {
				p := filepath.Join(dir, name)
				if strings.HasSuffix(name, "spool-9") {
					if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(p, []byte("left"), 0o600); err != nil {
					t.Fatal(err)
				}
				want = append(want, p)
			}
		case leftover.CmdLock: // rt33c F3: a killed command's, its words in it
			p := filepath.Join(dir, n.Base)
			if err := os.WriteFile(p, []byte("999999\numbra db restore b.db\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			want = append(want, p)
		case leftover.Compact, leftover.Restore, leftover.AsideSuffix:
			p := filepath.Join(dir, n.Base)
			if err := os.WriteFile(p, []byte("left"), 0o600); err != nil {
				t.Fatal(err)
			}
			want = append(want, p)
		}
	}
	// A name that only looks alike is not one.
	if err := os.WriteFile(filepath.Join(dir, "queue.db.snapshot-1"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]bool{}
	for _, l := range s.Leftovers() {
		got[l] = true
	}
	for _, p := range want {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s kept", p)
		}
		if !got[p] {
			t.Errorf("%s removed but not reported: %v", p, s.Leftovers())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "queue.db.snapshot-1")); err != nil {
		t.Errorf("a file not on the list was removed: %v", err)
	}
}
