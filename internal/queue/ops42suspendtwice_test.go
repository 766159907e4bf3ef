package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// OPS-42 item 1: a suspend of a queue already suspended has nothing to
// do, and is refused as a resume of a queue not suspended is
// (ErrNotApplicable, the CLI's exit 1), naming the resume; the
// suspension stays as it was.
func TestOPS42SuspendOfASuspendedQueueIsRefused(t *testing.T) {
	sq := suspendedSlowQueue(t, 1, time.Minute)
	err := sq.q.SuspendQueue(sq.ctx, "mx:slow.example")
	if !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), "mx:slow.example is already suspended: nothing to suspend (umbra queue resume mx:slow.example") {
		t.Fatalf("a second suspend: %v, want a refusal (ErrNotApplicable) naming the resume", err)
	}
	if !sq.q.IsSuspended("mx:slow.example") {
		t.Fatal("the refused second suspend lifted the suspension")
	}
	if _, err := sq.q.ResumeQueue(sq.ctx, "mx:slow.example"); err != nil {
		t.Fatalf("resume after the refused suspend: %v", err)
	}
}
