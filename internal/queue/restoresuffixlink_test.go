package queue

import (
	"testing"
)

// OPS-3: db restore, run as root, writes the replaced
// database's suffix to queue.db.restore-suffix in the data directory —
// the daemon's user's — with os.OpenFile(O_CREATE|O_TRUNC), following a
// symlink planted at that name: the file the link names is truncated
// and overwritten with ".replaced-TIME". The sibling of queue.db.restore,
// which datadirfiles.go's createFresh makes afresh.
func TestOPS3RestoreSuffixDoesNotFollowAPlantedLink(t *testing.T) {
	victim, b, content := restoreBesidePlantedLink(t, asideSuffixName)
	if string(b) != content {
		t.Errorf("db restore wrote through the symlink queue.db.restore-suffix into %s: now %q, was %q", victim, b, content)
	}
}
