package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-13 (rt27a F2): a primary that refused this server's database
// as another server's (this server runs a copy of another's data dir)
// has its copies taken over neither by failed heartbeats — the refusal
// is kept in the transport database and stands through the primary's
// outage. At their expiry they are taken over as any copy (shfix27 F3:
// the refusal is a renamed server's too, whose copies are the only ones;
// a clone's duplicate at expiry is better than a loss). A session of this server let in
// by the primary ends the refusal.
func TestDisownedPrimaryCopiesNeverTakenOver(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	d := newScripted(func(string, int) (Outcome, string) { return Deferred, "451 4.4.1 no route" })
	q := NewManager(s, d, ManagerConfig{MessageExpiration: time.Hour, Clock: clk, Hostname: "hub-c.test"})
	old := msg(s, "a@example.org", "x@example.net")
	old.State, old.Arrived = Shadow, clk.Now().Add(-3*time.Hour) // expiration and grace passed
	old.Rcpts[0].Status, old.Rcpts[0].Primary, old.Rcpts[0].ShadowID = Shadowed, "hub-a", old.ID.String()+"-1"
	old.Rcpts[0].Notify = NotifyFailure
	young := msg(s, "a@example.org", "y@example.net")
	young.State, young.Arrived = Shadow, clk.Now()
	young.Rcpts[0].Status, young.Rcpts[0].Primary, young.Rcpts[0].ShadowID = Shadowed, "hub-a", young.ID.String()+"-1"
	s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.PutNew(old, []byte(body)); err != nil {
			return err
		}
		return tx.PutNew(young, []byte(body))
	})
	const reply = "550 5.7.1 Database id 00aa is another server's here; nothing changed"
	if err := q.ShadowDisowned("hub-a", reply); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		f, taken, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), time.Second, 3, "connection refused")
		if !errors.Is(err, ErrDisowned) || taken != 0 || f != i {
			t.Fatalf("failed heartbeat %d of a primary that disowned this server: failures %d, taken %d, err %v; want %d, 0, ErrDisowned", i, f, taken, err, i)
		}
		clk.Advance(2 * time.Second)
	}
	if m, err := q.Message(young.ID); err != nil || m.State != Shadow || m.Rcpts[0].Status != Shadowed {
		t.Fatalf("the copy of a primary that disowned this server was taken over: %+v %v", m, err)
	}
	q.pruneDiscards(clk.Now())
	// At its expiry the copy is taken over as any other (shfix27 F3): the
	// refusal is also a renamed server's, whose copies are the only ones;
	// a clone's duplicate is better than a loss.
	if m, err := q.Message(old.ID); err != nil || m.State == Shadow || m.Rcpts[0].Status == Shadowed {
		t.Fatalf("an expired copy of a primary that disowned this server was not taken over: %+v %v", m, err)
	}
	if m, err := q.Message(young.ID); err != nil || m.State != Shadow {
		t.Fatalf("a copy not expired was changed: %+v %v", m, err)
	}

	// The primary lets a session of this server in: the refusal ends,
	// and failed heartbeats count towards a takeover again.
	if _, err := q.ShadowPresented("hub-a", "11bb", nil); err != nil {
		t.Fatal(err)
	}
	if got := q.ShadowDisownedBy("hub-a"); got != "" {
		t.Fatalf("refusal kept after the primary let a session in: %q", got)
	}
	if _, _, err := q.ShadowHeartbeatFailed("hub-a", clk.Now(), time.Second, 3, "connection refused"); errors.Is(err, ErrDisowned) {
		t.Fatal("a failed heartbeat still answered ErrDisowned after the primary let a session in")
	}
}
