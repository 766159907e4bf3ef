package queue

import (
	"testing"
	"time"
)

// SR-6, SR-8 (shadow28 item 4): the administrator removes, with a DSN, a
// copy taken over for failed heartbeats. Its primary, back with the
// database it had, still holds the original pending: without a note it
// fails or expires it in turn — a second DSN to the sender for the same
// recipient — or delivers it after the sender was told it failed. The
// removal's commit notes the recipient failed for the primary's
// database, as an attempt's failure does (noteTakenDone); a removal
// without a DSN notes nothing (the primary delivers its original).
func TestRemovedTakenOverCopyIsNotedForItsPrimary(t *testing.T) {
	for _, ndr := range []bool{true, false} {
		to := takeOverAtHubB(t, time.Hour)
		if err := to.q.RemoveMessage(to.ctx, to.m.ID, ndr); err != nil {
			t.Fatal(err)
		}
		notes, _ := to.q.TakenDoneFor("db1", 10)
		switch {
		case ndr && (len(notes) != 1 || notes[0].Kind != TakenFailed || notes[0].Addr != "x@b.example"):
			t.Fatalf("notes for hub-b's database after the removal with a DSN: %+v; want x@b.example failed", notes)
		case !ndr && len(notes) != 0:
			t.Fatalf("notes after a removal without a DSN: %+v; want none", notes)
		}
	}
}
