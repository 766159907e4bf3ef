package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt19 reread (mendq19b 1): a message held by this server only that an
// operator holds is not copied while held, and a listing of the marks
// meanwhile (SingleCopies, each pass) must not leave it unmarked at its
// release: the release makes its copy again (SR-17), also for a message
// accepted with no shadow copy (NoCopy: no server named).
func TestHeldSingleCopyMarkedAgainAtRelease(t *testing.T) {
	for _, lost := range []string{"", "hub-b"} {
		t.Run("lost="+lost, func(t *testing.T) {
			s := openTest(t)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{Clock: clk})
			ctx := context.Background() // not started: nothing is delivered
			m := receiptCopy(s, "x@b.example")
			if lost == "" {
				m.ShadowServer, m.ShadowID, m.NoCopy = "", "", true
			}
			if err := q.Submit(ctx, m, []byte(body)); err != nil {
				t.Fatal(err)
			}
			if lost != "" {
				if err := s.Update(ctx, func(tx *Tx) error { return tx.markSingle(m.ID, lost, clk.Now()) }); err != nil {
					t.Fatal(err)
				}
			}
			if _, ok := q.SingleCopyOf(m.ID); !ok {
				t.Fatal("not marked before the hold")
			}
			// Submit may hand it to an attempt of its own (nothing is
			// delivered: it ends at once); a hold waits for its end.
			var err error
			waitFor(t, "the hold", func() bool {
				err = q.SuspendMessage(ctx, m.ID)
				return !errors.Is(err, ErrBusy)
			})
			if err != nil {
				t.Fatal(err)
			}
			if single, err := q.SingleCopies(); err != nil || len(single) != 0 {
				t.Fatalf("listed while held: %+v, %v", single, err)
			}
			if err := q.ResumeMessage(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
			single, err := q.SingleCopies()
			if err != nil || len(single) != 1 || single[0].ID != m.ID {
				t.Fatalf("after the release: %+v, %v; want %s marked (its copy made again)", single, err, m.ID)
			}
			if n := q.SingleCopyCount(); n != 1 {
				t.Fatalf("count %d, want 1", n)
			}
		})
	}
}
