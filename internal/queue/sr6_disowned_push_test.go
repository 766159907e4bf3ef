package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// Review of shrt27 (rt27a F2), SR-6, SR-13: the disowned mark ends only
// when this server's own session is let in by the primary (ShadowContact,
// ShadowPresented). A primary that accepts this server again (the
// operator ran `umbra shadow forget-database` there, as the README says
// for a rename) and pushes a NEW copy here does not end it: when that
// primary then fails for good, the new copy — made with its acceptance,
// the only copy of a message it acknowledged — is never taken over by
// failed heartbeats and, at its expiry, dropped without a DSN.
func TestSR6CopyPushedAfterDisownIsTakenOverWhenPrimaryDies(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	const timeout = 5 * time.Second
	q := NewManager(s, nil, ManagerConfig{MessageExpiration: time.Hour, Clock: clk})
	old := msg(s, "b@example.org", "x@b.example")
	old.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(context.Background(), old, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	// hub-b refused this server's heartbeat as presenting another
	// server's database id (this server was renamed, or is a copy).
	if err := q.ShadowDisowned("hub-b", "550 5.7.1 Database id cc is another server's here; nothing changed"); err != nil {
		t.Fatal(err)
	}
	// The operator forgets the id on hub-b; hub-b accepts this server as
	// a shadow server again and pushes a new copy (its session here
	// presents its database; the copy is stored).
	clk.Advance(time.Minute)
	if _, err := q.ShadowPrimaryPresentedHere("hub-b", "db1"); err != nil {
		t.Fatal(err)
	}
	fresh := msg(s, "b@example.org", "y@b.example")
	fresh.OrgID = orgid.New()
	if stored, err := q.SubmitShadowCopy(context.Background(), fresh, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil || !stored {
		t.Fatalf("new copy from hub-b: stored %v, %v", stored, err)
	}
	// hub-b crashes for good right after (the failure shadow redundancy
	// exists for). Every heartbeat fails, past the takeover bound.
	var lastErr error
	var takenAll int
	for i := 0; i < 5; i++ {
		clk.Advance(timeout)
		_, taken, err := q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 3, "connection refused")
		takenAll += taken
		lastErr = err
	}
	if m, err := q.Message(fresh.ID); err != nil || m.State == Shadow {
		t.Errorf("copy pushed by hub-b after it accepted this server again: %d failed heartbeats past the bound took nothing over (taken %d, last err %v); state %v", 5, takenAll, lastErr, m.State)
	}
	// At its expiry the copy is dropped, never delivered, no DSN.
	clk.Advance(3 * time.Hour)
	q.pruneDiscards(clk.Now())
	if _, err := q.Message(fresh.ID); errors.Is(err, ErrNotFound) {
		t.Errorf("copy pushed by hub-b after it accepted this server again was dropped at its expiry (still disowned: %q): acknowledged mail lost", q.ShadowDisownedBy("hub-b"))
	}
}

// Review of shrt27 (rt27a F2), SR-6: the refusal "Database id … is
// another server's here" is not only a clone's. The README (*Routing*,
// "Renaming a server … in a shared topology") says a renamed server,
// once it runs under its new name, gets exactly this refusal from its
// peers — and it is the data dir's only holder: no other server keeps
// its copies. Its primary hub-b then dies for good (the failure shadow
// redundancy exists for): every copy hub-b made here is never taken
// over and, at its expiry, dropped without a DSN.
func TestSR13RenamedHoldersCopiesOfDeadPrimaryNotDropped(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	const timeout = 5 * time.Second
	q := NewManager(s, nil, ManagerConfig{MessageExpiration: time.Hour, Clock: clk})
	c := msg(s, "b@example.org", "x@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(context.Background(), c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
		t.Fatal(err)
	}
	if err := q.ShadowDisowned("hub-b", "550 5.7.1 Database id cc is another server's here; nothing changed"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		clk.Advance(timeout)
		q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 3, "connection refused")
	}
	clk.Advance(3 * time.Hour)
	q.pruneDiscards(clk.Now())
	if _, err := q.Message(c.ID); errors.Is(err, ErrNotFound) {
		t.Errorf("the only copy of hub-b's message (hub-b dead, unreachable for hours) was dropped at its expiry: neither delivered nor bounced")
	}
}
