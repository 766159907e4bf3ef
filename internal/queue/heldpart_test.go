package queue

import (
	"context"
	"testing"
)

// takeoverPending has hub-h fetch what this server owes it (full and
// partial discards), then take every copy of this server over as at its
// loss, and returns the recipients of the shared copy hub-h would
// deliver.
func (r *splitCopyRig) takeoverPending(t *testing.T) []string {
	t.Helper()
	lines, ack := r.p.DiscardsPartial("hub-h", 100)
	if _, err := r.h.ShadowContact("hub-p", "db-p", lines); err != nil {
		t.Fatal(err)
	}
	ack()
	if _, err := r.h.Takeover("hub-p", "test"); err != nil {
		t.Fatal(err)
	}
	c, err := r.h.Message(r.copyID)
	if err != nil {
		return nil
	}
	var pending []string
	for _, i := range c.Pending() {
		pending = append(pending, c.Rcpts[i].Addr)
	}
	return pending
}

// SR-13, OPS-3: a part of a split message held by the operator (message
// suspend; a poison part the operator resumed is not a hold) while the
// other part still needs the shared copy wrote no discard and settled
// none of its recipients in the copy: this server then lost, hub-h's
// takeover delivered x@a.example, the mail the operator held. A part's
// hold settles its recipients in the shared copy (a partial discard),
// as a whole message's hold settles its copy.
func TestSR13HeldPartIsSettledInTheSharedCopy(t *testing.T) {
	r := newSplitCopyRig(t, false)
	ctx := context.Background()
	if err := r.p.SuspendMessage(ctx, r.a.ID); err != nil {
		t.Fatal(err)
	}
	pending := r.takeoverPending(t)
	if len(pending) != 1 || pending[0] != "y@b.example" {
		t.Fatalf("hub-h's takeover of the shared copy delivers %q, want y@b.example alone: x@a.example's part is held by the operator here", pending)
	}
}

// The release of a part whose hold settled its recipients in the shared
// copy gives them back as a whole message's release does: the part is
// marked held by this server only (its copy made again by the re-make
// pass), the mark saying the hold discarded it.
func TestSR13ReleasedHeldPartIsMarkedForItsCopy(t *testing.T) {
	r := newSplitCopyRig(t, false)
	ctx := context.Background()
	if err := r.p.SuspendMessage(ctx, r.a.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.p.ResumeMessage(ctx, r.a.ID); err != nil {
		t.Fatal(err)
	}
	scs, err := r.p.SingleCopies()
	if err != nil {
		t.Fatal(err)
	}
	var sc *SingleCopy
	for _, s := range scs {
		if s.ID == r.a.ID {
			s := s
			sc = &s
		}
	}
	if sc == nil {
		t.Fatalf("the released part x@a.example is not marked held by this server only: its recipients were settled in the shared copy by its hold, and no copy of them is made again")
	}
	if sc.Lost != "hub-h" || sc.How != HowHeld {
		t.Fatalf("the released part's mark: %+v (%s), want its copy on hub-h discarded by the hold", *sc, sc)
	}
}
