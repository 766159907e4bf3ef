package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A damaged file is found at open and reported as ErrDamaged with the
// recovery path — never a crash, also for a truncated file whose pages
// lie beyond its end.
func TestDamagedDatabaseDetectedAtOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		m := &Message{ID: s.NewID(time.Now()), State: Ready, From: "a@example.org", Rcpts: []Recipient{{Addr: "b@example.net"}}}
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(strings.Repeat("x", 3000))) }); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	good, _ := os.ReadFile(path)
	page := os.Getpagesize()
	overwritten := append([]byte{}, good...)
	for i := 4 * page; i < 8*page && i < len(overwritten); i++ {
		overwritten[i] = byte(i * 7)
	}
	metaGone := append([]byte{}, good...)
	for i := 0; i < 2*page; i++ {
		metaGone[i] = 0xAB
	}
	for name, b := range map[string][]byte{
		"truncated":   good[:len(good)/3],
		"overwritten": overwritten,
		"meta pages":  metaGone,
		"tiny":        good[:100],
		"not a db":    []byte(strings.Repeat("Subject: not a database\r\n", 5000)),
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".db")
		os.WriteFile(p, b, 0o600)
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
	s, err = Open(path, Options{})
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
