package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A record key overwritten so that it sorts after the key that follows
// it on its page: bbolt's own walk of every page at a writable open
// (the free list is rebuilt, not stored) reports the order from a
// goroutine of its own with a panic nothing can recover — the process
// dies. Open walks the pages first, with ordinary reads, and refuses the
// file naming the page, its bucket and what the operator can do.
func TestKeyOutOfOrderRefusedAtOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	s, err := Open(path, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[ID]bool{}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for i := 0; i < 300; i++ {
			m := txMsg(tx, "a@example.org", "b@example.net")
			m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
			if err := tx.PutNew(m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				return err
			}
			ids[m.ID] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	page := disorderKey(t, path, ids)
	s, err = Open(path, Options{UnsafeNoSync: true})
	if err == nil {
		s.Close()
		t.Fatal("a file with a key out of order opened")
	}
	for _, want := range []string{"page " + strconv.Itoa(page), "out of order", "umbra db verify", "restore"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if !strings.Contains(err.Error(), `bucket "messages"`) && !strings.Contains(err.Error(), `bucket "bodies"`) {
		t.Errorf("the refusal does not name the bucket: %v", err)
	}
	if strings.Contains(err.Error(), "runtime error") {
		t.Errorf("the refusal is a recovered panic: %v", err)
	}
	t.Log(err)

	// The same file as a backup: db verify names the page, and a restore
	// (even --unverified, whose copy bbolt opens for writing) refuses it.
	backup := filepath.Join(dir, "backup.db")
	os.Rename(path, backup)
	if err := VerifyBackup(backup); err == nil || !strings.Contains(err.Error(), "page "+strconv.Itoa(page)) ||
		!strings.Contains(err.Error(), "out of order") {
		t.Errorf("db verify: %v", err)
	}
	live := filepath.Join(t.TempDir(), "queue.db")
	if _, err := RestoreWith(backup, live, RestoreOptions{Unverified: true}); err == nil ||
		!strings.Contains(err.Error(), "page "+strconv.Itoa(page)) || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("restore --unverified: %v", err)
	}
}

// disorderKey overwrites the second key of a leaf page of message ids
// (the messages or the bodies bucket) of the file at path with the
// largest id, and returns the page's number.
func disorderKey(t *testing.T, path string, ids map[ID]bool) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := checkedMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := describeDamage(path); d != "" {
		t.Fatalf("the sound file: %s", d)
	}
	// A leaf page of message ids (the messages or the bodies bucket):
	// its second key overwritten with the largest id.
	ps, bo := int(m.pageSize), binary.NativeEndian
	page := -1
	for pg := 2; pg < int(m.pgid) && page < 0; pg++ {
		p := b[pg*ps : (pg+1)*ps]
		if bo.Uint16(p[8:]) != pageLeaf || bo.Uint16(p[10:]) < 3 {
			continue
		}
		e := boltPageHeader + elemSize
		pos, ksize := int(bo.Uint32(p[e+4:])), int(bo.Uint32(p[e+8:]))
		if ksize == 8 && e+pos+8 <= ps && ids[ID(binary.BigEndian.Uint64(p[e+pos:]))] {
			copy(p[e+pos:], bytes.Repeat([]byte{0xff}, 8))
			page = pg
		}
	}
	if page < 0 {
		t.Fatal("no leaf page of message ids found")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return page
}
