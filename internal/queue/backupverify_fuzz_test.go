package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A backup file is the operator's (copied, stored, maybe damaged):
// umbra db verify reads it whatever it holds and answers, a damaged
// page or a pointer out of the file included, never crashing.
func FuzzVerifyBackup(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(filepath.Join(dir, "live.db"), Options{UnsafeNoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	m := msg(s, "a@example.org", "b@example.test")
	m.State, m.NextAttempt = Ready, time.Now().Add(time.Hour)
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(m, []byte("Subject: x\r\n\r\nbody\r\n")) }); err != nil {
		f.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.WriteBackup(backup); err != nil {
		f.Fatal(err)
	}
	s.Close()
	good, err := os.ReadFile(backup)
	if err != nil {
		f.Fatal(err)
	}
	if err := VerifyBackup(backup); err != nil {
		f.Fatalf("the sound backup: %v", err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "fuzz.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// A panic met reading it is reported with what is damaged
		// (pagewalk.go), never as a Go runtime text alone (rt45 F5).
		if err := VerifyBackup(p); err != nil && strings.HasPrefix(err.Error(), "runtime error") {
			t.Fatalf("a runtime error's text alone: %v", err)
		}
	})
}
