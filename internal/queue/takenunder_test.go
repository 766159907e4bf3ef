package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-7, SR-6, SR-13 (shadow28 items 1 and 2): every kind of takeover
// records the transport database id the copies were taken over under —
// the one they were made against, stored for the primary before the
// takeover — and only a takeover for failed heartbeats may give them
// back. Before, a takeover because the primary came back with a new
// database recorded nothing: shadow list could only show the primary's
// new id beside copies of its old database, and delivery kept avoiding
// the primary as the server the message came from.
func TestEveryTakeoverRecordsTheDatabaseTakenUnder(t *testing.T) {
	for _, c := range []struct {
		kind     string
		takeover func(q *Manager, clk *clock.Fake) error
		giveBack string
	}{
		{"failed heartbeats", func(q *Manager, clk *clock.Fake) error {
			for i := 0; i < 3; i++ {
				if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
					return err
				}
			}
			return nil
		}, "db1"},
		{"new database (SR-7)", func(q *Manager, _ *clock.Fake) error {
			_, err := q.ShadowContact("hub-b", "db2", nil)
			return err
		}, ""},
		{"operator", func(q *Manager, _ *clock.Fake) error {
			_, err := q.Takeover("hub-b", "the operator said so")
			return err
		}, ""},
		{"expiry", func(q *Manager, clk *clock.Fake) error {
			clk.Advance(time.Hour + 2*time.Hour + time.Minute) // message_expiration (2h here) + shadowExpiryGrace
			q.pruneDiscards(clk.Now())
			return nil
		}, ""},
	} {
		t.Run(c.kind, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			d := &routedShadow{db: &primaryDB{v: "db1"}}
			q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 2 * time.Hour})
			d.q = q
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(func() { cancel(); q.Wait() })
			q.Start(ctx)
			m := msg(s, "a@example.org", "x@b.example")
			m.Arrived = clk.Now()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
			d.db.set("")
			if err := c.takeover(q, clk); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the copy taken over", func() bool {
				got, _ := q.Message(m.ID)
				return got != nil && got.Rcpts[0].Status == Pending
			})
			under, err := q.ShadowTakenUnder()
			if err != nil {
				t.Fatal(err)
			}
			if got := under["hub-b"]; !slices.Equal(got, []string{"db1"}) {
				t.Fatalf("hub-b's copies taken over under %q; want db1, the database they were made against", got)
			}
			var back, taken map[string]string
			var sid string
			s.View(func(tx *Tx) error {
				stored, _ := tx.Get(m.ID)
				back, taken, _ = tx.giveBackOf(stored)
				sid = stored.Rcpts[0].ShadowID
				return nil
			})
			if taken["hub-b"] != "db1" || back[giveBackKey("hub-b", sid)] != c.giveBack {
				t.Fatalf("taken under %q, given back with %q; want db1 and %q", taken["hub-b"], back[giveBackKey("hub-b", sid)], c.giveBack)
			}
		})
	}
}
