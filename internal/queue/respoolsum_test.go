package queue

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkSummedSpool checks that body b of a restored or compacted
// database lives in a spool file written with its checksum, reads back
// as content, and that a byte changed in that file afterwards makes it
// unreadable (ErrBodyChecksum), as for a file a session wrote.
func checkSummedSpool(t *testing.T, what string, b Body, content []byte) {
	t.Helper()
	p, off, _ := b.File()
	if !b.Spooled() || !strings.HasPrefix(filepath.Base(p), summedSpoolPrefix) {
		t.Fatalf("%s: spool file %q: want one written with a checksum (%s…)", what, p, summedSpoolPrefix)
	}
	if err := b.Check(); err != nil {
		t.Fatalf("%s: Check of the sound file: %v", what, err)
	}
	if got := readAllBody(t, b); !bytes.Equal(got, content) {
		t.Fatalf("%s: read back %d bytes, want %d", what, len(got), len(content))
	}
	at := off + 5000
	flipInFile(t, p, at, content[len(b.Head())+5000:len(b.Head())+5001])
	if err := b.Check(); !errors.Is(err, ErrBodyChecksum) {
		t.Fatalf("%s: Check after a byte changed in its file: %v, want ErrBodyChecksum", what, err)
	}
}

// Restore writes a backup's spooled bodies, and the large bodies it
// finds held whole, into spool files with their checksum (rt49 F3: a
// restored server had no check on them).
func TestRestoreWritesSummedSpoolFiles(t *testing.T) {
	r, big, _, whole, _, bigBody, wholeBody := restoredStore(t)
	var bb, wb Body
	r.View(func(tx *Tx) error {
		bb, _ = tx.BodyOf(big)
		wb, _ = tx.BodyOf(whole)
		return nil
	})
	checkSummedSpool(t, "a backup's spooled body", bb, bigBody)
	checkSummedSpool(t, "a body held whole", wb, wholeBody)
}

// Compaction writes the large bodies it moves out of the database into
// spool files with their checksum, in either layout: its own, and the
// rollback's (--schema 4), whose older release reads the file's part as
// it always did (the checksum lies past it).
func TestCompactWritesSummedSpoolFiles(t *testing.T) {
	for _, schema := range []int{0, 4} {
		path := filepath.Join(t.TempDir(), "queue.db")
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		content := bigContent(500 << 10)
		m := msg(s, "a@example.org", "b@example.test")
		m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, content) }); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, _, err := CompactTo(path, testThreshold, schema); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var b Body
		s.View(func(tx *Tx) error { b, _ = tx.BodyOf(m.ID); return nil })
		checkSummedSpool(t, "compacted, schema "+string(rune('0'+schema)), b, content)
		s.Close()
	}
}
