package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6: a copy taken over from hub-a, handed to hub-c, taken back from
// hub-c (its heartbeats failed), then relayed without a shadow session
// to one server (Result.RelayedTo): to hub-a itself no note for hub-a
// and its handed note dropped; to hub-b a relayed note for hub-a; to
// hub-c (the server it was taken from last) no note, the handed note
// left unturned.
func TestSR6ChainRelayedToServerNotes(t *testing.T) {
	for _, tc := range []struct {
		to         string
		wantNote   bool
		wantHanded int
	}{{"hub-a", false, 0}, {"HUB-A", false, 0}, {"hub-b", true, 0}, {"hub-c", false, 1}} {
		t.Run(tc.to, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			const org = "0123456789abcdef0123456789abcdef"
			sS := openTest(t)
			var phase atomic.Int32
			dS := DelivererFunc(func(_ context.Context, m *Message, _ []byte, rc []int) []Result {
				var out []Result
				for _, i := range rc {
					switch phase.Load() {
					case 0, 2:
						out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "site:b", Reply: "451 4.4.1 down"})
					case 1:
						out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hub-c", PrimaryAddr: "127.0.0.3:25",
							ShadowID: m.ID.String() + "-1", Reply: "250 ok"})
					default:
						out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Queue: "smarthost:x", Reply: "250 ok", RelayedTo: tc.to})
					}
				}
				return out
			})
			qS := NewManager(sS, dS, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}, MessageExpiration: 48 * time.Hour})
			c := msg(sS, "s@example.org", "h@x.example")
			c.OrgID, c.Arrived = org, clk.Now()
			if stored, err := qS.SubmitShadowCopy(ctx, c, []byte(body), "hub-a", "127.0.0.1:25", "dbA"); err != nil || !stored {
				t.Fatalf("copy on receipt: %v, %v", stored, err)
			}
			for i := 0; i < 3; i++ {
				if _, _, err := qS.ShadowHeartbeatFailed("hub-a", clk.Now(), 0, 3, "timeout"); err != nil {
					t.Fatal(err)
				}
			}
			phase.Store(1)
			runCtx, cancel := context.WithCancel(ctx)
			t.Cleanup(func() { cancel(); qS.Wait() })
			qS.Start(runCtx)
			waitFor(t, "the taken-over copy handed to hub-c", func() bool {
				got, _ := qS.Message(c.ID)
				return got != nil && got.State == Shadow && len(got.Pending()) == 0
			})
			phase.Store(3)
			for i := 0; i < 3; i++ {
				if _, _, err := qS.ShadowHeartbeatFailed("hub-c", clk.Now(), 0, 3, "timeout"); err != nil {
					t.Fatal(err)
				}
			}
			qS.Kick()
			waitFor(t, "the copy taken back from hub-c relayed", func() bool {
				_, err := qS.Message(c.ID)
				return errors.Is(err, ErrNotFound)
			})
			ns, _ := qS.TakenDoneFor("dbA", 10)
			if tc.wantNote != (len(ns) == 1 && ns[0] == (TakenDone{ID: c.OrgID, Addr: "h@x.example", Kind: TakenRelayed})) || !tc.wantNote && len(ns) != 0 {
				t.Fatalf("relayed to %s: notes for dbA %+v, want note %v", tc.to, ns, tc.wantNote)
			}
			if n := handedNoteCount(t, sS); n != tc.wantHanded {
				t.Fatalf("relayed to %s: %d handed notes, want %d", tc.to, n, tc.wantHanded)
			}
		})
	}
}
