package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-8, SR-15: a record a holder's note names that is in delivery here
// delays only its own notes. The batch's other notes are applied in the
// same commit, and the busy record's notes are kept here (durably: they
// survive a restart), so the probe can let the holder forget the batch
// and ask for the next one; the next call for that holder — a probe
// told nothing new included — applies them once the attempt is over.
func TestTakenDoneBusyRecordDelaysOnlyItself(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	nop := DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil })
	q := NewManager(s, nop, ManagerConfig{Clock: clk})
	ms := queuedCopies(t, s, clk.Now(), 3)
	busy, free := ms[1], ms[2]
	setState(t, s, busy.ID, Active)
	notes := []TakenDone{{ID: busy.ShadowID, Addr: "a@x.example", Kind: TakenDelivered}, {ID: busy.ShadowID, Kind: TakenDelayed},
		{ID: free.ShadowID, Addr: "a@x.example", Kind: TakenDelivered}}
	fe, inDelivery, err := q.ShadowFinishedElsewhere("hub-b", notes)
	if err != nil || len(fe) != 1 || fe[0].Msg.ID != free.ID || inDelivery != 1 {
		t.Fatalf("first batch: %d changed, %d in delivery, %v; want the free record changed, 1 in delivery", len(fe), inDelivery, err)
	}
	if !q.takenDoneWaiting("HUB-B") {
		t.Fatal("the notes of the record in delivery were not kept")
	}
	// Still in delivery: kept again, nothing changed.
	if fe, inDelivery, err := q.ShadowFinishedElsewhere("hub-b", nil); err != nil || len(fe) != 0 || inDelivery != 1 {
		t.Fatalf("still in delivery: %d changed, %d in delivery, %v; want 0, 1", len(fe), inDelivery, err)
	}

	// A restart between: the kept notes are in the database.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q = NewManager(s, nop, ManagerConfig{Clock: clk})
	setState(t, s, busy.ID, Ready) // the attempt ended, the recipient deferred
	fe, inDelivery, err = q.ShadowFinishedElsewhere("hub-b", nil)
	if err != nil || len(fe) != 2 || inDelivery != 0 {
		t.Fatalf("after the attempt: %d changed, %d in delivery, %v; want the recipient and the delay DSN, 0", len(fe), inDelivery, err)
	}
	m, err := q.Message(busy.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcpts[0].Status != Relayed || m.Rcpts[1].Status != Pending || !m.DelayNotified {
		t.Fatalf("the kept notes applied as %s %s, delay sent %v; want relayed pending true", m.Rcpts[0].Status, m.Rcpts[1].Status, m.DelayNotified)
	}
	if q.takenDoneWaiting("hub-b") {
		t.Fatal("the notes applied are still kept")
	}
	// Nothing kept, nothing told: no commit at all.
	decoded := decodedBy(s)
	decoded.Store(-1)
	if fe, _, err := q.ShadowFinishedElsewhere("hub-b", nil); err != nil || len(fe) != 0 || decoded.Load() != -1 {
		t.Fatalf("nothing to apply: %d changed, %v, a commit ran: %v", len(fe), err, decoded.Load() != -1)
	}
}
