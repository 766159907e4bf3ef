package pickup

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/queue"
)

// SR-12: a drop moved aside at the end of its wait (.NAME.<id>.handed)
// and not yet settled keeps its submission key: the next start settles
// it by that key (reattachHanded), so the queue's pruner may not forget
// it while the file lies there (KeyFileGone), though NAME.eml is gone.
// Once the .handed file is gone the key may go. A name with glob
// characters is matched as itself.
func TestSR12HandedFileKeepsItsKey(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir) // as serve does: the directory in use (dirInUse)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	gone := KeyFileGone(dir)
	id := queue.ID(time.Now().UnixNano())
	for _, name := range []string{"report.eml", "re[p]ort*?.eml"} {
		path := filepath.Join(dir, name)
		dropFile(t, dir, name, "X-Receiver: a@example.net\nSubject: x\n\nhi\n")
		key, err := contentFileKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if gone(name, key) {
			t.Fatalf("%s: its key said gone while the file is there", name)
		}
		handed := handedName(path, id)
		if err := os.Rename(path, handed); err != nil {
			t.Fatal(err)
		}
		if gone(name, key) {
			t.Errorf("%s: its key said gone while %s lies in the directory: the next start could not settle it", name, filepath.Base(handed))
		}
		if err := os.Remove(handed); err != nil {
			t.Fatal(err)
		}
		if !gone(name, key) {
			t.Errorf("%s: its key kept with neither the drop nor its .handed file there", name)
		}
	}
}
