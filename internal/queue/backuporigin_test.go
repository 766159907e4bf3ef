package queue

import (
	"errors"
	"path/filepath"
	"testing"
)

// A backup records the server it was taken of; a restore on another
// server is refused, on the same server accepted.
func TestBackupOriginRefusesOtherServer(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "hub2.db"), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetServer("hub2.example.org"); err != nil {
		t.Fatal(err)
	}
	bk := filepath.Join(dir, "hub2.backup")
	if _, err := s.WriteBackup(bk); err != nil {
		t.Fatal(err)
	}
	id := s.DatabaseID()
	s.Close()
	server, dbID, err := BackupOrigin(bk)
	if err != nil || server != "hub2.example.org" || dbID != id {
		t.Fatalf("origin: %q %q %v (want %q)", server, dbID, err, id)
	}
	err = CheckBackupOrigin(bk, "hub1.example.org")
	if !errors.Is(err, ErrOtherServer) {
		t.Fatalf("hub2's backup on hub1: %v", err)
	}
	t.Log(err)
	if err := CheckBackupOrigin(bk, "hub2.example.org"); err != nil {
		t.Fatal(err)
	}
}
