package admin

import (
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// openStore opens a transport database in dir for a test (queue.db, no
// fsync), closed when the test ends.
func openStore(t *testing.T, dir string) *queue.Store {
	t.Helper()
	st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
