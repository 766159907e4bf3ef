package queue

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// groupDeliverer expands team@a.example into two members at its first
// attempt; the members are relayed when membersDone, else deferred, and
// every other recipient is deferred.
type groupDeliverer struct {
	mu          sync.Mutex
	membersDone bool
	attempts    int
}

func (d *groupDeliverer) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts++
	var out []Result
	for _, i := range rcpts {
		switch a := m.Rcpts[i].Addr; {
		case a == "team@a.example":
			out = append(out, Result{Rcpt: i, Outcome: Expanded, Expand: []string{"m1@a.example", "m2@a.example"}, Reply: "expanded"})
		case (a == "m1@a.example" || a == "m2@a.example") && d.membersDone:
			out = append(out, Result{Rcpt: i, Outcome: RelayedOK, NextHop: "mx.a.example:25", Reply: "250 2.0.0 queued"})
		default:
			out = append(out, Result{Rcpt: i, Outcome: Deferred, NextHop: "mx.example.org:25", Reply: "451 4.3.0 try later"})
		}
	}
	return out
}

// newGroupSplitRig: splitCopyRig's message with a group: the parts
// team@a.example (a group this server expands) and y@b.example, one
// copy on hub-h naming team@a.example and y@b.example. It returns once
// the group is expanded.
func newGroupSplitRig(t *testing.T, membersDone bool) *splitCopyRig {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &splitCopyRig{clk: clock.NewFake(t0)}
	var err error
	if r.ps, err = Open(filepath.Join(t.TempDir(), "queue.db"), Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ps.Close() })
	r.hs = openTest(t)
	r.h = NewManager(r.hs, nil, ManagerConfig{MessageExpiration: splitExp, Clock: r.clk})
	org := orgid.New()
	part := func(rcpt string) *Message {
		m := msg(r.ps, "", rcpt)
		m.OrgID, m.ShadowServer, m.ShadowID = org, "hub-h", org
		m.State, m.Arrived, m.NextAttempt = Ready, t0, t0
		return m
	}
	r.a, r.b = part("team@a.example"), part("y@b.example")
	ctx := context.Background()
	for _, m := range []*Message{r.a, r.b} {
		if err := r.ps.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	}
	c := msg(r.hs, "", "team@a.example", "y@b.example")
	c.OrgID = org
	if stored, err := r.h.SubmitShadowCopy(ctx, c, []byte(body), "hub-p", "127.0.0.2:25", "db-p"); err != nil || !stored {
		t.Fatalf("the holder's copy: stored %v, %v", stored, err)
	}
	r.copyID = c.ID
	d := &groupDeliverer{membersDone: membersDone}
	r.p = NewManager(r.ps, d, ManagerConfig{Clock: r.clk, Hostname: "hub-p",
		RetrySchedule: []time.Duration{30 * time.Minute}, MessageExpiration: splitExp})
	pctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); r.p.Wait() })
	r.p.Start(pctx)
	waitFor(t, "team@a.example expanded and its members tried", func() bool {
		m, err := r.p.Message(r.a.ID)
		if errors.Is(err, ErrNotFound) {
			return membersDone
		}
		return err == nil && m.State != Active && len(m.Rcpts) == 3 && m.Rcpts[1].LastReply != ""
	})
	return r
}

// SR-13, OPS-3: a removed part whose group this server had expanded
// named the group's members in its partial discard; the shared copy on
// hub-h names the group: the holder matched none, kept team@a.example,
// and its takeover delivered the mail the operator removed. A partial
// discard names what the copy holds: the group, once none of its
// members is left pending here.
func TestSR13RemovedPartNamesTheGroupTheCopyHolds(t *testing.T) {
	r := newGroupSplitRig(t, false)
	if err := r.p.RemoveMessage(context.Background(), r.a.ID, false); err != nil {
		t.Fatal(err)
	}
	if pending := r.takeoverPending(t); len(pending) != 1 || pending[0] != "y@b.example" {
		t.Fatalf("hub-h's takeover of the shared copy delivers %q, want y@b.example alone: team@a.example's part was removed here", pending)
	}
}

// The sibling at an attempt's results: the members of a group expanded
// here all relayed, their partial discard named them, not the group the
// shared copy holds: hub-h's takeover delivered team@a.example again.
func TestSR13FinishedGroupIsSettledInTheSharedCopy(t *testing.T) {
	r := newGroupSplitRig(t, true)
	if pending := r.takeoverPending(t); len(pending) != 1 || pending[0] != "y@b.example" {
		t.Fatalf("hub-h's takeover of the shared copy delivers %q, want y@b.example alone: team@a.example's members were relayed here", pending)
	}
}

// The sibling at a part's hold: a held part with an expanded group
// settles the group in the shared copy (settleHeldPart).
func TestSR13HeldPartNamesTheGroupTheCopyHolds(t *testing.T) {
	r := newGroupSplitRig(t, false)
	if err := r.p.SuspendMessage(context.Background(), r.a.ID); err != nil {
		t.Fatal(err)
	}
	if pending := r.takeoverPending(t); len(pending) != 1 || pending[0] != "y@b.example" {
		t.Fatalf("hub-h's takeover of the shared copy delivers %q, want y@b.example alone: team@a.example's part is held here", pending)
	}
}
