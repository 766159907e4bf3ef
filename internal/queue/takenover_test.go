package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"umbra/internal/clock"
)

// SR-7 after a db restore (takenover.go): the holder lists, for the
// database a restored primary's was restored from, the recipients of the
// copies it took over from that primary under it that wait here
// ("TAKEN"): not those of another primary or another database, not one in
// delivery here (that one is BUSY). The restored primary marks each such
// recipient of its original done without a DSN: the message goes out
// once, from the holder.
func TestSR7RestoredPrimaryLeavesWaitingTakenOverCopiesToTheHolder(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"

	// The holder: two copies on receipt from hub-a (database dbA), taken
	// over when hub-a presents its restored database dbA2.
	sS := openTest(t)
	qS := NewManager(sS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	c := msg(sS, "s@example.org", "x@remote.example", "y@remote.example")
	c.OrgID, c.Arrived = org, clk.Now()
	if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	c2 := receiptCopy(sS, "z@remote.example")
	if stored, err := qS.SubmitShadowCopy(ctx, c2, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
		t.Fatalf("copy on receipt: %v, %v", stored, err)
	}
	if n := qS.TakenOverFor("hub-a", "dbA", "dbA", 10); len(n) != 0 {
		t.Fatalf("copies not taken over listed: %+v", n)
	}
	if n := qS.TakenOverFor("hub-c", "dbC2", "dbA", 10); len(n) != 0 {
		t.Fatalf("copies listed to another primary naming hub-a's database: %+v", n)
	}
	// hub-a's session presents dbA2 and names dbA as the database its
	// own was restored from: the copies are taken over (SR-7) in that
	// question, and listed.
	got := qS.TakenOverFor("HUB-A", "dbA2", "dbA", 10)
	if len(got) != 3 {
		t.Fatalf("listed %+v, want the three recipients of both copies", got)
	}
	for _, n := range got {
		if n.Kind != TakenOver || n.ID != org && n.ID != c2.OrgID {
			t.Fatalf("line %+v", n)
		}
	}
	if n := qS.TakenOverFor("hub-a", "dbA2", "dbA2", 10); len(n) != 0 {
		t.Fatalf("copies listed for the new database: %+v", n)
	}
	if n := qS.TakenOverFor("hub-c", "dbA2", "dbA", 10); len(n) != 0 {
		t.Fatalf("copies listed for another primary: %+v", n)
	}
	if n := qS.TakenOverFor("hub-a", "dbA2", "dbA", 1); len(n) != 1 {
		t.Fatalf("max 1: %+v", n)
	}
	setState(t, sS, c2.ID, Active)
	if n := qS.TakenOverFor("hub-a", "dbA2", "dbA", 10); len(n) != 2 {
		t.Fatalf("a copy in delivery listed as waiting: %+v", n)
	}
	if b := qS.TakenBusyFor("dbA", 10); len(b) != 1 || b[0].ID != c2.OrgID {
		t.Fatalf("busy %+v, want the copy in delivery", b)
	}
	if w := WireOf(got[0]); w != got[0].ID+" RCPT="+got[0].Addr+" TAKEN" {
		t.Fatalf("wire %q", w)
	}
	if back, ok := ParseTakenDone(WireOf(got[0])); !ok || back != got[0] {
		t.Fatalf("parsed %+v %v, want %+v", back, ok, got[0])
	}

	// The restored primary: its original of the first copy, from the
	// backup.
	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "x@remote.example", "y@remote.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	var mine []TakenDone
	for _, n := range got {
		if n.ID == org {
			mine = append(mine, n)
		}
	}
	fe, _, err := qP.ShadowFinishedElsewhere("hub-b", mine)
	if err != nil || len(fe) != 2 {
		t.Fatalf("finished elsewhere: %d, %v; want 2", len(fe), err)
	}
	if _, err := qP.Message(o.ID); err == nil {
		t.Fatal("the original stays here with every recipient taken over by its holder")
	}
	n := 0
	pS.View(func(tx *Tx) error {
		tx.ForEach(func(*Message, error) bool { n++; return true })
		return nil
	})
	if n != 0 {
		t.Fatalf("%d messages left at the primary (a DSN?), want none", n)
	}
}

// WireOf is TakenDone.Wire (the test reads it as the server writes it).
func WireOf(n TakenDone) string { return n.Wire() }

// The database id a restored database was restored from is kept (Store.
// Predecessor), from its first start on, across later starts: the holders'
// question about the copies taken over from it is asked after a restart
// too. A database never restored has none.
func TestRestoredDatabaseKeepsItsPredecessor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := s.DatabaseID()
	if s.Predecessor() != "" {
		t.Fatalf("a new database names a predecessor: %q", s.Predecessor())
	}
	s.Close()
	// What db backup's mark writes (markBackup), then the restored
	// file's first start.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyBackupOf, append([]byte(old), "\x002026-01-01T00:00:00Z"...))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for i := range 2 {
		s, err = Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if s.DatabaseID() == old || s.Predecessor() != old {
			t.Fatalf("start %d: id %s, predecessor %q; want a new id and %s", i, s.DatabaseID(), s.Predecessor(), old)
		}
		if first := s.RestoredFrom() != ""; first != (i == 0) {
			t.Fatalf("start %d: restored from %q", i, s.RestoredFrom())
		}
		s.Close()
	}
}
