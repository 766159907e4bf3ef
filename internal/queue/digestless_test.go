package queue

import (
	"context"
	"path/filepath"
	"testing"
)

// SR-13, SR-6 (shadow30 item 3): that a completed session proved a
// primary of an earlier release (no database digest advertised) is kept
// in the transport database across a restart (a real bbolt file, closed
// and opened again), for the database id proved only: the primary back
// with another id is not proved so; a session that advertised a digest
// forgets it.
func TestSR6DigestlessPrimarySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	open := func() (*Store, *Manager) {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s, NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Hostname: "umbra.test"})
	}
	putPeer := func(s *Store, db string) {
		t.Helper()
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return tx.PutPeer(&ShadowPeer{Primary: "hub-b", Addr: "127.0.0.133:8025", DatabaseID: db})
		}); err != nil {
			t.Fatal(err)
		}
	}
	digestless := func(q *Manager) bool {
		t.Helper()
		d, err := q.Digestless("hub-b")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	s, q := open()
	if digestless(q) {
		t.Fatal("a fresh database holds hub-b proved digestless")
	}
	putPeer(s, "db1")
	if err := q.NoteDigestless("hub-b", "db1", true); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, q = open()
	if !digestless(q) {
		t.Fatal("after a restart: hub-b's proof of an earlier release lost")
	}
	putPeer(s, "db2") // back with another database
	if digestless(q) {
		t.Fatal("hub-b with another database id still taken as proved digestless")
	}
	putPeer(s, "db1")
	if err := q.NoteDigestless("hub-b", "db1", false); err != nil { // upgraded: it advertises its digest
		t.Fatal(err)
	}
	s.Close()

	s, q = open()
	defer s.Close()
	if digestless(q) {
		t.Fatal("after a restart: hub-b, seen advertising its digest, still taken as proved digestless")
	}
}
