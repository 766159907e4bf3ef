package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Q-5, OPS-3 (rt41 F7): a backup whose root page lost the bucket flag of
// an entry (one flipped byte) was refused by db verify with "a page could
// not be read: runtime error: invalid memory address or nil pointer
// dereference" — a recovered panic's Go words as the reason, the page
// walk finding nothing. Every place that reports a damaged file (verify,
// restore, compact, the start's open) names the page in umbra's words.
func TestDamagedRootEntryNamedInUmbraWords(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "live.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for i := 0; i < 20; i++ {
			m := txMsg(tx, "a@example.org", "b@example.net")
			m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
			if err := tx.PutNew(m, []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	good, _ := os.ReadFile(backup)
	m, err := checkedMeta(backup)
	if err != nil {
		t.Fatal(err)
	}
	ps, bo := int(m.pageSize), binary.NativeEndian
	root := int(m.root)
	if flags := bo.Uint16(good[root*ps+8:]); flags == pageBranch { // the first leaf under it
		root = int(bo.Uint64(good[root*ps+boltPageHeader+8:]))
	}
	count := int(bo.Uint16(good[root*ps+10:]))
	if bo.Uint16(good[root*ps+8:]) != pageLeaf || count == 0 {
		t.Fatalf("page %d is no leaf of the root bucket", root)
	}
	tried := 0
	for i := 0; i < count; i++ {
		at := root*ps + boltPageHeader + i*elemSize // the element's flags
		if good[at]&leafBucketFlag == 0 {
			continue
		}
		b := bytes.Clone(good)
		b[at] &^= leafBucketFlag
		tried++
		for _, check := range []struct {
			name string
			run  func(p string) error
		}{
			{"verify", func(p string) error { return VerifyBackup(p) }},
			{"restore", func(p string) error {
				_, err := Restore(p, filepath.Join(filepath.Dir(p), "restored.db"))
				return err
			}},
			{"compact", func(p string) error { _, _, err := Compact(p); return err }},
			{"open", func(p string) error {
				s, err := Open(p, Options{UnsafeNoSync: true})
				if err == nil {
					s.Close()
				}
				return err
			}},
		} {
			sub := filepath.Join(dir, fmt.Sprintf("%d-%s", i, check.name))
			os.Mkdir(sub, 0o700)
			p := filepath.Join(sub, "queue.db")
			os.WriteFile(p, b, 0o600)
			err := check.run(p)
			if err == nil {
				continue // an entry no step of this check reads
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("page %d", root)) || strings.Contains(msg, "runtime error") || strings.Contains(msg, "nil pointer") {
				t.Errorf("entry %d, %s: %q, want the page (%d) named in umbra's words", i, check.name, msg, root)
			}
		}
	}
	if tried == 0 {
		t.Fatal("no entry of the root bucket to damage")
	}
}
