package queue

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7: a copy taken over from hub-a (database dbA) and handed to
// hub-c, kept here for hub-c, its takenhanded note written by a release
// before under the topology's spelling "Hub-C." of the server it went
// to. The open folds the record's primary to hub-c (primaryfold.go); the
// note's key too: hub-c's discard turns it into the takendone note for
// hub-a's database — else hub-a, back with dbA, delivers the recipient
// again.
func TestSR6TakenHandedNoteFoldedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	const org = "0123456789abcdef0123456789abcdef"
	const sid = org // a copy on receipt is named by its org id
	m := &Message{ID: s.NewID(clk.Now()), State: Shadow, From: "s@example.org", OrgID: org, Arrived: clk.Now(),
		Rcpts: []Recipient{{Addr: "h@x.example", Status: Shadowed, Primary: "hub-c", ShadowID: sid, Queue: "shadow:hub-c"}}}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Put(m); err != nil {
			return err
		}
		var at [8]byte
		binary.BigEndian.PutUint64(at[:], uint64(clk.Now().UnixNano()))
		k := append([]byte("Hub-C.\x00"+sid+"\x00"), rcptKey("h@x.example")...)
		k = append(append(k, 0), "dbA"...)
		v := append(at[:], "dbA\x00org-a\x00h@x.example\x00hub-a"...)
		return tx.tx.Bucket(bucketTakenHanded).Put(k, v)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ := startManager(t, s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	if n, err := q.ApplyDiscards("hub-c", []string{sid}); n != 1 || err != nil {
		t.Fatalf("hub-c's discard: %d applied, %v", n, err)
	}
	if ns, _ := q.TakenDoneFor("dbA", 10); len(ns) != 1 || ns[0] != (TakenDone{ID: "org-a", Addr: "h@x.example", Kind: TakenRelayed}) {
		t.Errorf("notes for dbA after hub-c's discard: %+v; want h@x.example relayed", ns)
	}
}
