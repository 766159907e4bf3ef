package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// departed42 (SR-6, SR-13): the record of a primary whose copies are all
// gone is kept, past the ten minutes a primary without copies keeps it,
// while taken-done notes made under its database are owed to it: a
// primary the topology no longer names is let in here by that record
// (HeldServer) to ask for them. Without notes the record goes as before.
func TestSR13HeldRecordKeptWhileTakenDoneNotesOwed(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, newScripted(nil), ManagerConfig{Clock: clk})
	old := clk.Now().Add(-time.Hour) // past peerGrace
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for p, db := range map[string]string{"hub-b": "db-owed", "hub-c": "db-none"} {
			if err := tx.PutPeer(&ShadowPeer{Primary: p, Addr: "127.0.0.139:25", DatabaseID: db, LastContact: old, LastTry: old}); err != nil {
				return err
			}
		}
		b, err := tx.tx.CreateBucketIfNotExists(bucketTakenDone)
		if err != nil {
			return err
		}
		return b.Put([]byte("db-owed\x00shadow-1\x00x@b.example"), make([]byte, 9))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowPeers(); err != nil { // the pass that drops stale records
		t.Fatal(err)
	}
	addr, db, ok := q.HeldServer("hub-b")
	if !ok || addr != "127.0.0.139:25" || db != "db-owed" {
		t.Errorf("hub-b, owed notes: held record %q %q, %v; want kept at 127.0.0.139:25 with db-owed", addr, db, ok)
	}
	if _, _, ok := q.HeldServer("hub-c"); ok {
		t.Error("hub-c, nothing held or owed an hour on: its record kept")
	}
	if got := q.HeldServerAddresses(); len(got) != 1 || got[0] != "127.0.0.139:25" {
		t.Errorf("held addresses %q, want [127.0.0.139:25]", got)
	}
	if _, ok := heldAddr("127.0.0.139:25 via out"); ok {
		t.Error("a record through a send connector taken as a server's own")
	}
}
