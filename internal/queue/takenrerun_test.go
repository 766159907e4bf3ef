package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-6, SR-7, the siblings of TestSR6RetriedResultsCommitKeepsTakenNote:
// a message leaving delivery otherwise than by its results' commit
// (requeue, poison, hold, Recover) applies the discards kept aside
// (putLeavingTook, settleIdle) in a function that group commit may run
// twice — in a batch another writer's error aborted, then alone. The
// second run read the message as the first had changed it in memory
// (the recipient hub-c's discard settles, settled already) and wrote
// no takendone note for hub-a.
func TestSR6RequeueRerunKeepsTakenNote(t *testing.T) {
	ctx := context.Background()
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
	// A writer holds the commit while the requeue and a writer that
	// fails queue behind it: the two go in one batch, the requeue first.
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
	go func() { qS.requeue(m); close(done) }()
	waitFor(t, "the requeue to queue", func() bool { return sS.queued() >= 1 })
	failing := make(chan error, 1)
	go func() {
		failing <- sS.Update(ctx, func(*Tx) error { return errors.New("refused by its own decision") })
	}()
	waitFor(t, "the failing writer to queue", func() bool { return sS.queued() >= 2 })
	close(block)
	<-leader
	<-done
	<-failing
	ns, _ := qS.TakenDoneFor("dbA", 10)
	if len(ns) != 1 || ns[0] != (TakenDone{ID: c.OrgID, Addr: "h@x.example", Kind: TakenRelayed}) {
		t.Fatalf("notes for dbA after the requeue ran twice: %+v, want h@ relayed", ns)
	}
}
