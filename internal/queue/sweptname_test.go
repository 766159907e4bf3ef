package queue

import (
	"os"
	"path/filepath"
	"testing"

	"umbra/internal/leftover"
)

// OPS-3: leftover.Swept, the refusal of a name a backup's sweep
// removes, knows every name the sweep removes: the sweep of backups to
// a file whose own name holds ".partial-" removes a partial copy whose
// name holds it twice, so a finished file named so must be refused as
// an output, not accepted and deleted by the next db backup.
func TestOPS3SweptKnowsEveryNameTheSweepRemoves(t *testing.T) {
	for _, c := range []struct{ name, target string }{
		{".a.partial-x.partial-L1-y", "a.partial-x"},
		{".a.partial-L2-.partial-L1-y", "a.partial-L2-"},
		{".b.db.partial-L1-x", "b.db"},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte("a finished export the operator named so"), 0o600); err != nil {
			t.Fatal(err)
		}
		why := leftover.Swept(c.name)
		st := RemoveStalePartials(filepath.Join(dir, c.target))
		if _, err := os.Lstat(p); err != nil && why == "" {
			t.Errorf("Swept(%q) = \"\" (accepted as an output), but db backup %s removed it: %+v", c.name, c.target, st)
		}
	}
}
