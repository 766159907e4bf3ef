package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6: the siblings of TestSR6RequeueRerunKeepsTakenNote that the
// change names (poison, hold) but did not test: each leaving commit run
// twice by group commit must still write hub-a's takendone note.
func leaveRunTwice(t *testing.T, sS *Store, leave func()) {
	t.Helper()
	ctx := context.Background()
	block, running := make(chan struct{}), make(chan struct{})
	leader := make(chan error, 1)
	go func() {
		leader <- sS.Update(ctx, func(*Tx) error {
			select {
			case <-running:
			default:
				close(running)
			}
			<-block
			return nil
		})
	}()
	<-running
	done := make(chan struct{})
	go func() { leave(); close(done) }()
	waitFor(t, "the leaving commit to queue", func() bool { return sS.queued() >= 1 })
	failing := make(chan error, 1)
	go func() {
		failing <- sS.Update(ctx, func(*Tx) error { return errors.New("refused by its own decision") })
	}()
	waitFor(t, "the failing writer to queue", func() bool { return sS.queued() >= 2 })
	close(block)
	<-leader
	<-done
	<-failing
}

func TestSR6PoisonAndHoldRerunKeepTakenNote(t *testing.T) {
	for _, how := range []string{"poison", "hold"} {
		t.Run(how, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			qS, sS, c := handedCopyFixture(t, clk, "h@x.example")
			setState(t, sS, c.ID, Active)
			if _, err := qS.ApplyDiscards("hub-c", []string{c.ID.String() + "-1"}); err != nil {
				t.Fatal(err)
			}
			m, err := qS.Message(c.ID)
			if err != nil {
				t.Fatal(err)
			}
			leaveRunTwice(t, sS, func() {
				if how == "poison" {
					qS.poison(m, "test")
				} else {
					qS.holdSettled(context.Background(), m)
				}
			})
			ns, _ := qS.TakenDoneFor("dbA", 10)
			if len(ns) != 1 || ns[0] != (TakenDone{ID: c.OrgID, Addr: "h@x.example", Kind: TakenRelayed}) {
				t.Fatalf("notes for dbA after the %s ran twice: %+v, want h@ relayed", how, ns)
			}
		})
	}
}
