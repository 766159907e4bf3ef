package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// damagedCopies writes a sound database with some messages and returns
// damaged variants of it (name → path), and the sound file's path.
func damagedCopies(t *testing.T) (map[string]string, string) {
	t.Helper()
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
	out := map[string]string{}
	for name, b := range map[string][]byte{
		"truncated":   good[:len(good)/3],
		"overwritten": overwritten,
		"meta pages":  metaGone,
		"tiny":        good[:100],
		"not a db":    []byte(strings.Repeat("Subject: not a database\r\n", 5000)),
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".db")
		os.WriteFile(p, b, 0o600)
		out[name] = p
	}
	return out, path
}

// Compaction of a damaged file reports it as serve does (ErrDamaged and
// the recovery path), never panics, and leaves the file as it was.
func TestCompactDamagedDatabase(t *testing.T) {
	files, _ := damagedCopies(t)
	for name, p := range files {
		before, _ := os.ReadFile(p)
		_, _, err := Compact(p)
		if err == nil {
			t.Errorf("%s: compacted without an error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "move it aside") {
			t.Errorf("%s: %v", name, err)
		}
		after, _ := os.ReadFile(p)
		if !bytes.Equal(before, after) {
			t.Errorf("%s: the file changed", name)
		}
		if _, err := os.Stat(p + ".compact"); err == nil {
			t.Errorf("%s: a partial copy is left", name)
		}
	}
}
