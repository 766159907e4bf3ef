package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt19e F3: a copy taken over from a primary that was still heard from
// after the message's delay_notification was due gets no second
// "delayed" DSN from the server that took it over: the primary, alive
// and retrying past that point, made its own. One whose primary went
// silent before the delay was due gets the DSN from here, once — no
// other server could have made it. (RFC 3461 §4.2: at most one delay
// notice per recipient is what a sender expects; README, Delivery.)
// Seen to fail first: a delay DSN here in both cases.
func TestTakenOverCopyDelayDSNOnlyWhenPrimaryCouldNot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		heardLate bool // the primary answered a discard query after the delay was due
		wantDSNs  int
	}{
		{"primary heard after the delay was due", true, 0},
		{"primary silent before the delay was due", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			d := &routedShadow{db: &primaryDB{v: "db1"}}
			q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour},
				DelayNotification: 10 * time.Minute, MessageExpiration: 24 * time.Hour})
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
			clk.Advance(12 * time.Minute)
			if tc.heardLate {
				if _, err := q.ShadowContact("hub-b", "db1", nil); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(5 * time.Minute)
			for i := 0; i < 3; i++ {
				if _, _, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), 0, 3, "timeout"); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the taken-over copy's deferral on its route", func() bool {
				got, _ := q.Message(m.ID)
				return got != nil && got.State == Ready && got.Attempts == 1
			})
			got, _ := q.Message(m.ID)
			if !got.DelayNotified {
				t.Fatalf("the delay notice is still due after the attempt past delay_notification")
			}
			dsns := 0
			for _, x := range messages(t, s) {
				if x.Connector == "dsn" {
					dsns++
				}
			}
			if dsns != tc.wantDSNs {
				t.Fatalf("%d delay DSNs made here, want %d", dsns, tc.wantDSNs)
			}
		})
	}
}
