package queue

import (
	"context"
	"path/filepath"
	"testing"
)

// SR-15 (rt31a F2): where a shadow server was reached is kept in the
// transport database across a restart (a real bbolt file, closed and
// opened again), under the server's name folded as the topology folds
// it, so that the discards owed to a server the topology no longer
// lists still reach it; an empty address forgets it.
func TestSR15HolderAddressSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	open := func() (*Store, *Manager) {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s, NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Hostname: "umbra.test"})
	}
	s, q := open()
	if a, err := q.HolderAddress("hub-b"); err != nil || a != "" {
		t.Fatalf("a fresh database: %q, %v; want none", a, err)
	}
	if err := q.NoteHolderAddress("Hub-B.", "127.0.0.181:14025"); err != nil {
		t.Fatal(err)
	}
	if err := q.NoteHolderAddress("hub-c", "127.0.0.182:14025"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, q = open()
	if a, err := q.HolderAddress("hub-b"); err != nil || a != "127.0.0.181:14025" {
		t.Fatalf("after a restart: %q, %v; want 127.0.0.181:14025", a, err)
	}
	if err := q.NoteHolderAddress("hub-b", ""); err != nil {
		t.Fatal(err)
	}
	all, err := q.HolderAddresses()
	if err != nil || len(all) != 1 || all["hub-c"] != "127.0.0.182:14025" {
		t.Fatalf("after hub-b forgotten: %v, %v; want hub-c alone", all, err)
	}
	s.Close()
}
