package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-8 (shadow29 item 1): every kind of takeover leaves the notes
// a failed-heartbeat takeover leaves — a copy that expired here unconfirmed, one
// taken over by Manager.Takeover (the primary presented another
// database, an operator's): the recipients the shadow server finished
// are noted under the database the copy was made against, and the
// primary back with that database marks them done instead of delivering
// its original again (a duplicate) or sending a second DSN.
func TestTakenDoneNotedForEveryTakeover(t *testing.T) {
	for _, path := range []string{"expiry", "takeover"} {
		t.Run(path, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			const org = "0123456789abcdef0123456789abcdef"
			sS := openTest(t)
			dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
				var out []Result
				for _, i := range rc {
					out = append(out, Result{Rcpt: i, Outcome: DeliveredOK, Queue: "mailbox:x", Reply: "250 ok"})
				}
				return out
			})
			qS := NewManager(sS, dS, ManagerConfig{Clock: clk, MessageExpiration: 48 * time.Hour, RetrySchedule: []time.Duration{time.Hour}})
			c := msg(sS, "s@example.org", "d@x.example")
			c.OrgID, c.Arrived = org, clk.Now()
			if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
				t.Fatalf("copy on receipt: %v, %v", stored, err)
			}
			switch path {
			case "expiry":
				clk.Advance(48*time.Hour + shadowExpiryGrace + time.Minute)
				qS.pruneDiscards(clk.Now())
			case "takeover":
				if n, err := qS.Takeover("hub-a", "taken over by the operator"); err != nil || n != 1 {
					t.Fatalf("takeover: %d, %v", n, err)
				}
			}
			runCtx, cancel := context.WithCancel(ctx)
			defer func() { cancel(); qS.Wait() }()
			qS.Start(runCtx)
			waitFor(t, "the taken-over copy delivered", func() bool {
				got, err := qS.Message(c.ID)
				return err != nil || got != nil && len(got.Pending()) == 0
			})
			notes, _ := qS.TakenDoneFor("dbA", 10)
			if len(notes) != 1 || notes[0].Addr != "d@x.example" || notes[0].Kind != TakenDelivered {
				t.Fatalf("notes for the primary's database after a takeover (%s) and delivery here: %+v; want d@x.example delivered", path, notes)
			}
			// The primary back with dbA: its original is finished.
			pS := openTest(t)
			qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			o := msg(pS, "s@example.org", "d@x.example")
			o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
			o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
			if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
			if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", notes); err != nil || len(fe) != 1 {
				t.Fatalf("finished elsewhere at the returning primary: %d, %v; want 1", len(fe), err)
			}
		})
	}
}
