package queue

import (
	"context"
	"testing"
	"time"
)

// SR-6, SR-7 after `umbra db restore` of a holder (restoredhanded.go):
// a TAKEN line of the server the predecessor handed a copy to says that
// server owns the recipient, and the restored holder's copy of it is
// settled — never delivered here. So the server lists only the
// recipients of the copy it delivers, or delivered, itself:
//   - not the recipient of a failure DSN made there that carries the
//     copy's discard (earlydsn.go: its record names the copy, but its
//     recipient is the original's sender): a sender who is also a
//     recipient of the message (a copy to self) would be settled on the
//     restored holder while the recipient it means is pending there — a
//     loss; nor the same DSN once delivered (its finished entry);
//   - not a recipient of a copy held there as poison: it is not
//     delivered there without the operator (its body may be unreadable,
//     and it is given back to the holder — the predecessor, gone), and
//     the restored holder's copy is the sound one.
func TestSR6HolderListsOnlyTheCopiesItDelivers(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, c *Store, sid string)
	}{
		{"failure DSN carrying the copy, queued", func(t *testing.T, c *Store, sid string) {
			dsnCarrying(t, c, sid, false, now)
		}},
		{"failure DSN carrying the copy, delivered", func(t *testing.T, c *Store, sid string) {
			dsnCarrying(t, c, sid, true, now)
		}},
		{"copy held as poison", func(t *testing.T, c *Store, sid string) {
			m := msg(c, "alice@example.org", "alice@example.org")
			m.ShadowServer, m.ShadowID, m.State = "hub-b", sid, Poison
			if err := c.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// hub-b, restored: it holds, for hub-a, the message alice
			// sent to bob and to herself.
			var m *Message
			r := openRestored(t, func(s *Store) {
				m = msg(s, "alice@example.org", "bob@remote.example", "alice@example.org")
				shadowHeld(t, s, m, m.ID.String()+"-"+primaryHash("hub-a")+"-000000000001")
			})
			qr := NewManager(r, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
			// Its predecessor took it over and handed bob's copy to
			// hub-c; alice's stayed with the predecessor.
			sid := m.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab"
			c := openTest(t)
			qc := NewManager(c, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
			tc.setup(t, c, sid)

			var lines []TakenDone
			after := ""
			for range 10 {
				got, next := qc.HandedHereBy("hub-b", after, 10)
				lines = append(lines, got...)
				if after = next; after == "" {
					break
				}
			}
			for _, n := range lines {
				if rcptKey(n.Addr) == rcptKey("alice@example.org") {
					t.Errorf("hub-c lists %s RCPT=%s TAKEN: it does not deliver that recipient of the copy", n.ID, n.Addr)
				}
			}
			if len(lines) > 0 {
				if _, _, err := qr.ShadowFinishedElsewhere("hub-c", lines); err != nil {
					t.Fatal(err)
				}
			}
			got, err := qr.Message(m.ID)
			if err != nil {
				t.Fatalf("the restored holder's copy is gone: %v", err)
			}
			for _, rc := range got.Rcpts {
				if rc.Status != Shadowed {
					t.Fatalf("%s settled on the restored holder (%s: %s), and nobody delivers it", rc.Addr, rc.Status, rc.LastReply)
				}
			}
		})
	}
}

// dsnCarrying stores on c a failure DSN to alice of a message handed to
// c by hub-b under copy sid, carrying that copy's discard (earlydsn.go);
// delivered: its attempt delivered it (its finished entry written).
func dsnCarrying(t *testing.T, c *Store, sid string, delivered bool, now time.Time) {
	t.Helper()
	dm := &Message{ID: c.NewID(now), State: Ready, Arrived: now, NextAttempt: now, Connector: "dsn", Internal: true,
		Rcpts: []Recipient{{Addr: "alice@example.org", Notify: NotifyNever}}}
	dm.ShadowServer, dm.ShadowID = "hub-b", sid
	if err := c.Update(context.Background(), func(tx *Tx) error { return tx.PutNew(dm, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if !carriesOthersCopy(dm) {
		t.Fatal("the DSN carries no copy")
	}
	if !delivered {
		return
	}
	if err := c.Update(context.Background(), func(tx *Tx) error {
		before := statusesNow(dm)
		dm.Rcpts[0].Status = Delivered
		if err := tx.noteFinished(dm, before, map[int]Outcome{0: DeliveredOK}, nil, now); err != nil {
			return err
		}
		return tx.Delete(dm.ID)
	}); err != nil {
		t.Fatal(err)
	}
}

// SR-6 after `umbra db restore` of a holder (restoredhanded.go): the
// copies a TAKEN line of FROM= can settle are those of the records the
// backup brought back — the only ones the database it replaced can have
// handed on. A record this database made after the restore is its own:
// its id, after a clock step back (a host restored from a snapshot), may
// be one the replaced database gave a message it handed to the
// answering server, and a line naming it must not settle it — the
// recipient would be settled here, never delivered, while the answering
// server holds another message. Nor the restored database's own relays
// of its messages, which it asks about at every start for as long as it
// runs.
func TestSR6RestoredHolderSettlesOnlyTheBackupsRecords(t *testing.T) {
	ctx := context.Background()
	var old *Message
	r := openRestored(t, func(s *Store) {
		old = msg(s, "a@example.org", "x@remote.example")
		shadowHeld(t, s, old, old.ID.String()+"-"+primaryHash("hub-a")+"-000000000001")
	})
	qr := NewManager(r, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	// The backup's record, handed to hub-c by the replaced database, is.
	line := TakenDone{ID: old.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab", Addr: "x@remote.example", Kind: TakenOver}
	if fe, _, err := qr.ShadowFinishedElsewhere("hub-c", []TakenDone{line}); err != nil || len(fe) != 1 {
		t.Fatalf("the backup's record not settled by hub-c's line: %+v, %v", fe, err)
	}
	for _, own := range []bool{false, true} {
		// Made after the restore: pending here as this server's own, or
		// a copy held for hub-a.
		m := msg(r, "a@example.org", "x@remote.example")
		if own {
			m.State = Ready
			if err := r.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
		} else {
			shadowHeld(t, r, m, m.ID.String()+"-"+primaryHash("hub-a")+"-000000000001")
		}
		line := TakenDone{ID: m.ID.String() + "-" + primaryHash("hub-c") + "-0123456789ab", Addr: "x@remote.example", Kind: TakenOver}
		if fe, _, err := qr.ShadowFinishedElsewhere("hub-c", []TakenDone{line}); err != nil || len(fe) != 0 {
			t.Fatalf("a record made after the restore settled by hub-c's line (own %v): %+v, %v", own, fe, err)
		}
		got, err := qr.Message(m.ID)
		if err != nil || got.Rcpts[0].Status.Done() && got.Rcpts[0].Status != Shadowed {
			t.Fatalf("own %v: %+v, %v", own, got, err)
		}
	}
}
