package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
)

// poisonWithCopy: hub-p holds a message whose shadow copy hub-h keeps;
// its attempts crashed umbra until Recover put it in the poison queue.
func poisonWithCopy(t *testing.T) (clk *clock.Fake, p, h *Manager, m *Message, copyID ID) {
	t.Helper()
	ctx := context.Background()
	clk = clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ps, hs := openTest(t), openTest(t)
	p = NewManager(ps, nil, ManagerConfig{Clock: clk, Hostname: "hub-p", MessageExpiration: splitExp})
	h = NewManager(hs, nil, ManagerConfig{Clock: clk, MessageExpiration: splitExp})
	m = receiptCopy(ps, "x@a.example")
	m.ShadowServer, m.ShadowID, m.Arrived = "hub-h", m.OrgID, clk.Now()
	// Stored Ready: handed to an attempt of this run by the submit, the
	// message's peer-wait slot (peerwait.go) could say it waited for a
	// peer, and Recover counted no crash (the test's Recover stands for
	// the next start's).
	p.draining.Store(true)
	if err := p.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	p.draining.Store(false)
	c := msg(hs, "a@example.org", "x@a.example")
	c.OrgID = m.OrgID
	if stored, err := h.SubmitShadowCopy(ctx, c, []byte(body), "hub-p", "127.0.0.2:25", "db-p"); err != nil || !stored {
		t.Fatalf("the holder's copy: stored %v, %v", stored, err)
	}
	if err := ps.Update(ctx, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.State, got.CrashCount = Active, 5 // in flight at its crashes
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	if _, poisoned, err := p.Recover(ctx); err != nil || poisoned != 1 {
		t.Fatalf("Recover: %d poisoned, %v", poisoned, err)
	}
	return clk, p, h, m, c.ID
}

// SR-13, Q-2, OPS-3: a message in the poison queue kept its shadow copy
// on hub-h, and the poison queue does not age it: at the copy's expiry
// (receipt + message_expiration + grace) hub-h took the copy over and
// delivered, while this server was up, the mail it had set aside as
// poison for the operator's verdict. The poison queue is a hold the
// operator sees, as message suspend and the quarantine are: the commit
// that moves a message there settles its copy (its body here reading
// whole: the copy is no only sound one), and its resume makes it again.
func TestQ2PoisonMessagesCopyIsNotTakenOverBehindTheOperator(t *testing.T) {
	clk, p, h, m, copyID := poisonWithCopy(t)
	lines, ack := p.DiscardsPartial("hub-h", 100)
	if _, err := h.ShadowContact("hub-p", "db-p", lines); err != nil {
		t.Fatal(err)
	}
	ack()
	clk.Advance(splitExp + shadowExpiryGrace + time.Minute)
	h.pruneDiscards(clk.Now())
	if c, err := h.Message(copyID); err == nil && len(c.Pending()) > 0 {
		t.Fatalf("hub-h took its copy of %s over at its expiry (discards fetched %q) while hub-p holds it in the poison queue: delivered behind the operator's back", m.ID, lines)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	// The resume gives the copy back: held by this server only until
	// the re-make pass makes it again.
	if err := p.ResumeMessage(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	scs, err := p.SingleCopies()
	if err != nil {
		t.Fatal(err)
	}
	marked := false
	for _, sc := range scs {
		marked = marked || sc.ID == m.ID && sc.Lost == "hub-h"
	}
	if !marked {
		t.Fatalf("the resumed poison message is not marked held by this server only: its copy is not made again (%+v)", scs)
	}
}
