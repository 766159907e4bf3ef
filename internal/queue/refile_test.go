package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// A shadow server restored from a backup that holds a copy it relayed
// (its own record, the recipients shadowed at the primary under the
// relay's shadow id) gets the same copy pushed again by the primary,
// which saw the new database id and made the copies of the old one
// again (under the organisation id). It keeps one copy — the two would
// otherwise be settled by two different discards, and the one whose
// discard never comes is taken over and delivered again — and that
// copy is settled by the primary's discard under either id: the pushed
// one (the primary recorded the push) or the relay's (the primary lost
// that record in a crash and finishes the message first).
func TestPushedCopyOfRelayedCopyIsOneCopy(t *testing.T) {
	for _, by := range []string{"organisation id", "relay's shadow id"} {
		t.Run(by, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			db := &primaryDB{v: "db1"}
			q := NewManager(s, shadowing(db, func(int) Outcome { return RelayedOK }, nil),
				ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx)
			m := msg(s, "a@example.org", "x@b.example")
			m.Arrived = clk.Now()
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			var relayed *Message
			waitFor(t, "the relayed copy", func() bool {
				relayed, _ = q.Message(m.ID)
				return relayed != nil && relayed.State == Shadow
			})
			sid := relayed.Rcpts[0].ShadowID
			// hub-b pushes its message again, with its pending recipients
			// (a group's member the relay never had among them).
			push := msg(s, "a@example.org", "X@B.example", "z@b.example")
			push.OrgID = relayed.OrgID
			stored, err := q.SubmitShadowCopy(ctx, push, []byte(body), "hub-b", "127.0.0.2:25", "db1")
			if err != nil || !stored {
				t.Fatalf("push: stored %v, %v", stored, err)
			}
			if c, _ := q.ShadowCopies(); c["hub-b"] != (ShadowCopyCount{Held: 1}) {
				t.Fatalf("copies held for hub-b: %+v; want one", c["hub-b"])
			}
			all := messages(t, s)
			if len(all) != 1 || len(all[0].Rcpts) != 2 {
				t.Fatalf("records after the push: %d, want one with the two recipients: %+v", len(all), all)
			}
			discard := relayed.OrgID
			if by == "relay's shadow id" {
				discard = sid
			}
			if _, err := q.ShadowContact("hub-b", "db1", []string{discard}); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Message(m.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the copy outlived the primary's discard %q: %v", discard, err)
			}
			if left := messages(t, s); len(left) != 0 {
				t.Fatalf("copies left after the discard: %+v", left)
			}
		})
	}
}
