package queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt45 F5: a damaged page met by Open, VerifyBackup or Restore is named
// — its number, its bucket, the key before it — never reported as a Go
// runtime panic's text alone. Every page of a backup with 200 messages
// gets its element headers overwritten in turn (what the red team did
// to reach "slice bounds out of range"); whatever refuses it names a
// page.
func TestDamagedPageNamed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "live.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for i := 0; i < 200; i++ {
			m := txMsg(tx, "a@example.org", "b@example.net")
			m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
			if err := tx.PutNew(m, []byte("Subject: x\r\n\r\n"+strings.Repeat("body ", 100))); err != nil {
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
	if d := describeDamage(backup); d != "" {
		t.Fatalf("the sound backup: %s", d)
	}
	ps := int(m.pageSize)
	runtimeOnly, named := 0, 0
	for pg := 2; pg < int(m.pgid) && pg < 400; pg++ {
		b := bytes.Clone(good)
		for i := pg*ps + boltPageHeader; i < pg*ps+boltPageHeader+3*elemSize; i++ {
			b[i] = 0xff
		}
		// A file of its own each time: an Open that met a panic keeps
		// its file locked (the daemon exits then).
		p := filepath.Join(dir, fmt.Sprintf("damaged%d.db", pg))
		os.WriteFile(p, b, 0o600)
		for _, check := range []struct {
			name string
			run  func() error
		}{
			{"verify", func() error { return VerifyBackup(p) }},
			{"open", func() error {
				s, err := Open(p, Options{UnsafeNoSync: true})
				if err == nil {
					s.Close()
				}
				return err
			}},
		} {
			// Refused before bbolt read a page (the walk ran first:
			// pagewalk.go) or after a recovered panic: either names the
			// page, never a runtime error's text alone.
			err := check.run()
			if err == nil || !strings.Contains(err.Error(), "runtime error") && !strings.Contains(err.Error(), "page ") {
				continue
			}
			if !strings.Contains(err.Error(), "page ") || strings.HasPrefix(err.Error(), "runtime error") {
				runtimeOnly++
				t.Errorf("page %d, %s: %v", pg, check.name, err)
				continue
			}
			if named++; named <= 2 {
				t.Logf("page %d, %s: %v", pg, check.name, err)
			}
		}
	}
	if named == 0 {
		t.Fatal("no damaged page was refused: the test damages nothing")
	}
	t.Logf("%d refusals named a page, %d did not", named, runtimeOnly)
}
