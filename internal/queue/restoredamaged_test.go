package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A damaged backup is refused before the database is replaced.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "queue.db")
	s, err := Open(live, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		m := &Message{ID: s.NewID(time.Now()), State: Ready, From: "a@example.org", Rcpts: []Recipient{{Addr: "b@example.net"}}}
		if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte(strings.Repeat("x", 3000))) }); err != nil {
			t.Fatal(err)
		}
	}
	bk := filepath.Join(dir, "queue.backup")
	if _, err := s.WriteBackup(bk); err != nil {
		t.Fatal(err)
	}
	s.Close()
	good, _ := os.ReadFile(bk)
	page := os.Getpagesize()
	bad := append([]byte{}, good...)
	for i := 6 * page; i < 12*page && i < len(bad); i++ {
		bad[i] = byte(i * 7)
	}
	damaged := filepath.Join(dir, "damaged.backup")
	os.WriteFile(damaged, bad, 0o600)
	before, _ := os.ReadFile(live)
	kept, err := Restore(damaged, live)
	if err == nil {
		t.Fatalf("a damaged backup was restored (kept %s)", kept)
	}
	t.Logf("%v", err)
	if !strings.Contains(err.Error(), "damaged") {
		t.Errorf("unclear refusal: %v", err)
	}
	after, _ := os.ReadFile(live)
	if !bytes.Equal(before, after) {
		t.Error("the database changed")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".restore") || strings.Contains(e.Name(), ".replaced-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// The sound backup is still restored.
	if _, err := Restore(bk, live); err != nil {
		t.Fatal(err)
	}
}
