package queue

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Q-3, SR-6 (rr33 R1): a taken-over copy bound by its expiry (its
// delay notice went) and held in a suspended queue fails at its expiry
// with the hold as its last reply — what kept it — as before sched33,
// not with the takeover's note the hold now carries (carryTakeover):
// realReply read the carried form, and the failure DSN said "last
// reply: 451 4.4.0 …" (a routing problem) for a recipient the
// administrator held.
func TestQ3ExpiryOfHeldTakenOverCopyQuotesTheHold(t *testing.T) {
	s, clk, h, q, m, ctx := heldTakeoverRig(t)
	// Its delay notice went at its primary: its expiry binds here.
	if err := s.Update(ctx, func(tx *Tx) error {
		got, err := tx.Get(m.ID)
		if err != nil {
			return err
		}
		got.DelayNotified = true
		return tx.Put(got)
	}); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.shadowing = false
	h.mu.Unlock()
	if err := q.SuspendQueue(ctx, "mx:c.example"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	if n, err := q.Takeover("hub-b", "3 heartbeats failed"); n != 1 || err != nil {
		t.Fatalf("takeover: %d, %v", n, err)
	}
	waitFor(t, "the taken-over copy held", func() bool {
		got, _ := q.Message(m.ID)
		return got == nil || got.Rcpts[0].Status != Pending || heldBy(got.Rcpts[0].LastReply) != ""
	})
	clk.Advance(2 * time.Hour) // past its expiry, held
	q.Kick()
	waitFor(t, "the copy's failure DSN", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.dsns) > 0
	})
	got, _ := q.Message(m.ID)
	reply := ""
	if got != nil {
		reply = got.Rcpts[0].LastReply
	}
	h.mu.Lock()
	dsn := h.dsns[0]
	h.mu.Unlock()
	line := dsnTextLine(dsn, "y@c.example")
	if strings.Contains(reply, takeoverPrefix) || strings.Contains(line, "4.4.0") || !strings.Contains(dsn, "5.4.7") {
		t.Fatalf("expiry of a held taken-over copy: reply %q, DSN line %q; want the hold quoted, not the takeover's 4.4.0\n%s", reply, line, dsn)
	}
}

// Q-4 (rr33 R2): a resume that commits between heldNow and the
// attempt's commit gives back the recipient's reply and the message's
// last error (unheldResumed) — also for a taken-over copy's recipient,
// whose hold carries the takeover's note: the last error was compared
// with the bare hold and kept the hold of a queue no longer suspended.
func TestQ4ResumeDuringCommitGivesBackLastErrorOfTakenOverCopy(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	take := takeoverPrefix + "hub-b: 3 heartbeats failed"
	dead := deadReply("mx/c.example", take)
	m := &Message{ID: 9, Rcpts: []Recipient{{Addr: "y@c.example", Queue: "mx:c.example", LastReply: dead, Status: Pending}}, LastError: dead}
	q.qmu.Lock()
	if q.suspended == nil {
		q.suspended = map[string]bool{}
	}
	q.suspended["mx:c.example"] = true
	q.qmu.Unlock()
	swaps := q.heldNow(m)
	if heldBy(m.LastError) != "mx:c.example" {
		t.Fatalf("heldNow: last error %q; want the hold", m.LastError)
	}
	if err := s.View(func(tx *Tx) error { unheldResumed(tx, m, swaps); return nil }); err != nil {
		t.Fatal(err)
	}
	if m.Rcpts[0].LastReply != dead || m.LastError != dead {
		t.Fatalf("after the resume: reply %q, last error %q; want both %q", m.Rcpts[0].LastReply, m.LastError, dead)
	}
}
