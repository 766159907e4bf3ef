package queue

import (
	"context"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rrhanded38 (SR-6, SR-14): the holder took hub-a's copy over and handed
// one recipient (x) on to hub-c; the other (y) is still pending here.
// hub-a returns, hears x TAKEN, marks it done, and owes its holder the
// partial discard of x for its own copy. That discard names hub-a's
// copy id, not hub-c's: the copy kept here for hub-c must stay, or hub-c's
// copy is single without hub-c knowing, and hub-a has dropped its
// original — one failure of hub-c away from a loss.
func TestSR6PartialDiscardAfterTakenKeepsCopyForNextHub(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	handed := func(m *Message, i int) Result {
		if i != 0 {
			return Result{Rcpt: i, Outcome: Deferred, Queue: "site:y", Reply: "451 4.4.1 down"}
		}
		return Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25", ShadowID: m.ID.String() + "-1", Reply: "250 ok"}
	}
	qS, _, c := takenCopyRunning(t, clk, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}}, org, handed, "x@remote.example", "y@remote.example")
	waitFor(t, "x handed to hub-c, y deferred", func() bool {
		got, _ := qS.Message(c.ID)
		return got != nil && got.State != Active && got.Rcpts[0].Status == Shadowed && got.Rcpts[1].Status == Pending && got.Attempts > 0
	})
	got := qS.TakenHandedFor("dbA", 10)
	if len(got) != 1 || got[0].Addr != "x@remote.example" {
		t.Fatalf("listed %+v, want x", got)
	}

	pS := openTest(t)
	qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
	o := msg(pS, "s@example.org", "x@remote.example", "y@remote.example")
	o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
	o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
	if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
		t.Fatal(err)
	}
	if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", got); err != nil || len(fe) != 1 {
		t.Fatalf("finished elsewhere: %d, %v; want 1", len(fe), err)
	}
	lines, ack := qP.DiscardsPartial("hub-b", 10)
	if len(lines) == 0 {
		t.Fatal("hub-a owes its holder no partial discard for x")
	}
	ack()
	if _, err := qS.ApplyDiscards("hub-a", lines); err != nil {
		t.Fatal(err)
	}
	m, err := qS.Message(c.ID)
	if err != nil {
		t.Fatalf("the record kept for hub-c went with hub-a's partial discard: %v", err)
	}
	if m.Rcpts[0].Status != Shadowed || m.Rcpts[0].Primary != "hub-c" {
		t.Fatalf("x after hub-a's partial discard: %+v, want still kept for hub-c", m.Rcpts[0])
	}
	if m.Rcpts[1].Status != Pending {
		t.Fatalf("y after hub-a's partial discard: %+v, want pending here", m.Rcpts[1])
	}
	if n := qS.TakenHandedFor("dbA", 10); len(n) != 1 {
		t.Fatalf("listed after hub-a's partial discard: %+v, want x still", n)
	}
}

// rrhanded38 (SR-6, SR-14; finished.go, mergeHeld): the order a TAKEN
// line reverses. hub-a marks x done because hub-c holds its copy; hub-c
// then relays that copy to hub-a itself in a shadow session (hub-a is
// the next hop for x, back now). Before handed38 hub-a's original still
// owed x and merged the copy; now x is done in it. The relay must be
// queued and delivered here — neither merged into the done recipient
// nor dropped as a duplicate of it (nothing delivered x) — whether the
// original is still queued (y pending) or gone (all handed on).
func TestSR6TakenRecipientRelayedBackByNextHubIsQueued(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const org = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name  string
		rcpts []string
		taken []TakenDone
		stays bool
	}{
		{"original still queued", []string{"x@remote.example", "y@remote.example"},
			[]TakenDone{{ID: org, Addr: "x@remote.example", Kind: TakenOver}}, true},
		{"original gone", []string{"x@remote.example"},
			[]TakenDone{{ID: org, Addr: "x@remote.example", Kind: TakenOver}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pS := openTest(t)
			qP := NewManager(pS, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			o := msg(pS, "s@example.org", tc.rcpts...)
			o.OrgID, o.ShadowServer, o.ShadowID, o.Arrived = org, "hub-b", org, clk.Now()
			o.State, o.NextAttempt = Ready, clk.Now().Add(time.Hour)
			if err := pS.Update(ctx, func(tx *Tx) error { return tx.PutNew(o, []byte(body)) }); err != nil {
				t.Fatal(err)
			}
			if fe, _, err := qP.ShadowFinishedElsewhere("hub-b", tc.taken); err != nil || len(fe) != 1 {
				t.Fatalf("finished elsewhere: %d, %v; want 1", len(fe), err)
			}
			if got, _ := qP.Message(o.ID); (got != nil) != tc.stays {
				t.Fatalf("original after the TAKEN line: %+v, want kept %v", got, tc.stays)
			}
			r := msg(pS, "s@example.org", "x@remote.example")
			r.OrgID, r.ShadowServer, r.ShadowID, r.Arrived = org, "hub-c", "c-0001-1", clk.Now()
			if err := qP.Submit(ctx, r, []byte(body)); err != nil {
				t.Fatal(err)
			}
			owes := 0
			pS.View(func(tx *Tx) error {
				tx.ForEach(func(m *Message, err error) bool {
					if err != nil || m.OrgID != org {
						return true
					}
					for _, rc := range m.Rcpts {
						if rc.Addr == "x@remote.example" && rc.Status == Pending {
							owes++
						}
					}
					return true
				})
				return nil
			})
			if owes != 1 {
				t.Fatalf("records owing x after hub-c's relay: %d, want 1 (the relay queued)", owes)
			}
		})
	}
}
