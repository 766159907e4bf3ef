package queue

import (
	"path/filepath"
	"strings"
	"testing"
)

// Verifying the live database while umbra holds it names the lock, not
// bbolt's bare "timeout" (rt51 F9): the operator learns that a running
// umbra has the file and that verify is for backups and stopped servers.
func TestVerifyOfALiveDatabaseSaysItIsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = VerifyBackup(path)
	if err == nil {
		t.Fatal("verify of a locked database succeeded")
	}
	if !strings.Contains(err.Error(), "in use") || strings.HasSuffix(err.Error(), ": timeout") {
		t.Errorf("verify of the live database: %v", err)
	}
}
