package pickup

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// SR-12: settleHanded gives a moved-aside file that is not the
// submitted drop back to NAME.eml, or, that name taken by yet another
// drop, to NAME.restored-<id>.eml. The second give-back's error is never
// looked at: when it fails (here the name is taken; on a full disk a
// rename to the longer name can fail ENOSPC) the drop stays as the
// dot-file .NAME.<id>.handed, which no scan reads, until the next start,
// and the log says it "is kept and submitted at the next scan" under a
// name that does not hold it.
func TestSR12SecondGiveBackFailureIsReported(t *testing.T) {
	dir := t.TempDir()
	var logbuf bytes.Buffer
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	w := New(Config{Dir: dir, Hostname: "hub.test", Queue: q, Log: slog.New(slog.NewTextHandler(&logbuf, nil))})
	id := queue.ID(7)
	path := filepath.Join(dir, "app.eml")
	aside := handedName(path, id)
	restored := filepath.Join(dir, "app.restored-"+id.String()+".eml")
	// B: a drop that replaced the submitted one before the move aside;
	// C: yet another drop renamed in at app.eml after the move.
	if err := os.WriteFile(aside, []byte("X-Receiver: b@example.net\nSubject: B\n\nB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dropFile(t, dir, "app.eml", "X-Receiver: c@example.net\nSubject: C\n\nC\n")
	if err := os.Mkdir(restored, 0o700); err != nil { // the second give-back fails
		t.Fatal(err)
	}
	w.settleHanded(aside, path, "pickup:the-submitted-drop", id)
	_, err := os.Lstat(aside)
	stillAside := err == nil
	if stillAside && !strings.Contains(logbuf.String(), "level=ERROR") {
		t.Fatalf("drop B is still the hidden %s (no scan reads it until the next start) and no error was logged; the log says:\n%s",
			filepath.Base(aside), logbuf.String())
	}
}
