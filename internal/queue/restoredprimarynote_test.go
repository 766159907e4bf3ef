package queue

import (
	"testing"
)

// SR-6 after `umbra db restore` of a holder (rt39 shadow3 F1): the
// restored holder settles the copy it holds for hub-a as owned by hub-c
// (its replaced database took it over and handed it there) — and hub-a,
// the copy's primary, coming back with its database, must be told so
// too: it asks this holder what became of its copies (TakenDoneFor under
// its database id) and, told nothing, found the holder's new database id,
// marked its original held by itself only and delivered it — the message
// went out twice, from hub-c and from hub-a (20 of 20 in the outside
// check). The settling notes, under hub-a's database, the recipient
// relayed elsewhere (RELAYED), as the replaced database's own takeover
// and hand-off would have.
func TestSR6RestoredHolderTellsThePrimaryItsCopyWasHandedOn(t *testing.T) {
	var old *Message
	var sid string
	r := openRestored(t, func(s *Store) {
		old = msg(s, "a@example.org", "x@remote.example")
		sid = old.ID.String() + "-" + primaryHash("hub-a") + "-000000000001"
		shadowHeld(t, s, old, sid)
		if err := s.Update(t.Context(), func(tx *Tx) error { return tx.putPrimaryMark("hub-a", "dbA", 3) }); err != nil {
			t.Fatal(err)
		}
	})
	q := NewManager(r, DelivererFunc(nil), ManagerConfig{})
	line := TakenDone{ID: old.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab", Addr: "x@remote.example", Kind: TakenOver}
	if fe, _, err := q.ShadowFinishedElsewhere("hub-c", []TakenDone{line}); err != nil || len(fe) != 1 {
		t.Fatalf("the backup's copy not settled by hub-c's line: %+v, %v", fe, err)
	}
	notes, ack := q.TakenDoneFor("dbA", 10)
	if ack != nil {
		ack()
	}
	if len(notes) != 1 || notes[0].ID != sid || notes[0].Addr != "x@remote.example" || notes[0].Kind != TakenRelayed {
		t.Fatalf("hub-a (database dbA) is told %+v; want its copy %s of x@remote.example RELAYED: it would deliver its original again", notes, sid)
	}
}
