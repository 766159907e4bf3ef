package queue

import (
	"errors"
	"path/filepath"
	"testing"
)

// OPS (rollback): db compact --schema 5 was taken as "write the copy in
// the layout of schema version 5" and, on a file of version 4 (a
// rollback's copy, or an older release's file), wrote a copy of
// version 4 again with every record as it was: compaction writes no
// upgrade (the daemon's Open does), and --schema names only the layouts
// of the releases before, for a rollback. A version it does not write is
// refused, precisely, and the file is left as it was.
func TestCompactSchemaNamesOnlyARollbackLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	putDue(t, s, 1)
	s.Close()
	if _, _, err := CompactTo(path, 0, 4); err != nil {
		t.Fatal(err)
	}
	_, _, err = CompactTo(path, 0, schemaVersion)
	v, verr := SchemaOf(path)
	if verr != nil {
		t.Fatal(verr)
	}
	if !errors.Is(err, ErrCompactSchema) {
		t.Fatalf("compaction of a version-4 file \"to schema version %d\": %v; the copy says version %d — want a refusal: compaction writes no upgrade", schemaVersion, err, v)
	}
	if v != 4 {
		t.Fatalf("the refused compaction changed the file to version %d", v)
	}
	if err := CheckCompactSchema(schemaVersion); !errors.Is(err, ErrCompactSchema) {
		t.Fatalf("CheckCompactSchema(%d): %v; want the refusal the CLI gives before it opens anything", schemaVersion, err)
	}
	for _, ok := range []int{0, 3, 4} {
		if err := CheckCompactSchema(ok); err != nil {
			t.Fatalf("CheckCompactSchema(%d): %v", ok, err)
		}
	}
}
