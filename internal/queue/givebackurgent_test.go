package queue

import (
	"context"
	"testing"
)

// SR-3 (finalshadow40): a copy given back to its primary — back with the
// database it was taken over from, on a discard query or any session
// presenting that id — is a held copy again, whose discard the primary
// commits as it delivers its original. Its watch session opens then, as
// after a hand-off (markShadowedUrgent): left to the next heartbeat (a
// timeout later), a kill -9 of the primary after it delivered made this
// server take the copy over again and deliver it a second time.
func TestGivenBackCopyWatched(t *testing.T) {
	for _, how := range []string{"discard query", "presented"} {
		t.Run(how, func(t *testing.T) {
			r := newTakebackRig(t)
			ctx := context.Background()
			m := r.submit(t, "x@b.example")
			r.failHeartbeats(t)
			waitFor(t, "the taken-over copy's attempt", func() bool {
				got, _ := r.q.Message(m.ID)
				return got != nil && got.State == Ready && got.Attempts == 1
			})
			if err := r.q.Settle(ctx); err != nil {
				t.Fatal(err)
			}
			// The hand-off's urgency ran out while the copy was taken over.
			r.clk.Advance(2 * urgentFor)
			if u := r.q.ShadowUrgent(); !u["hub-b"].IsZero() {
				t.Fatalf("hub-b still urgent after the takeover: %v", u)
			}
			var res ContactResult
			var err error
			if how == "discard query" {
				res, err = r.q.ShadowContact("hub-b", "db1", nil)
			} else {
				res, err = r.q.ShadowPresented("hub-b", "db1", nil)
			}
			if err != nil || res.GivenBack != 1 {
				t.Fatalf("%s: %+v %v; want the copy given back", how, res, err)
			}
			if u := r.q.ShadowUrgent(); !u["hub-b"].After(r.clk.Now()) {
				t.Fatalf("copy given back to hub-b, its discard left to the heartbeats: urgent %v", u)
			}
		})
	}
}
