package queue

import (
	"errors"
	"strings"
	"testing"
)

// A damaged file is found at open and reported as ErrDamaged with the
// recovery path — never a crash, also for a truncated file whose pages
// lie beyond its end.
func TestDamagedDatabaseDetectedAtOpen(t *testing.T) {
	files, path := damagedCopies(t)
	for name, p := range files {
		s, err := Open(p, Options{})
		if err == nil {
			s.Close()
			t.Errorf("%s: opened without an error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "move it aside") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The sound file still opens and holds every message.
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	s.View(func(tx *Tx) error { tx.ForEach(func(*Message, error) bool { n++; return true }); return nil })
	if n != 300 {
		t.Errorf("%d messages in the sound file", n)
	}
}
