package queue

import (
	"context"
	"testing"
	"time"
)

// rt44-shadow4 F1 (SR-6, SR-13, SR-15): hub-1 kept copies here, then a
// reload replaced it in this server's topology by hub-4 at hub-1's
// address (a new hub, or one that never runs). The record of hub-1
// stays (departed42) and names that address. A session of hub-4 — the
// topology's server at the record's address — that presents no database
// id, or its own, is not hub-1: its pushed discards, its presentation and
// its question about copies taken over touch nothing of hub-1's. Before,
// the record, kept under a name the topology no longer lists, was taken
// for a send connector's host name reaching hub-4 (reaches), and a push
// presenting no database id discarded hub-1's copies: hub-1 then died
// for good and the mail was lost. Only the database id the record keeps
// says a session at its address is its server (a server renamed in the
// topology keeps its database: TestPushedDiscardOfPrimaryKnownByHostName).
func TestSR6TopologyServerAtDepartedPrimarysAddressSettlesNothingOfIt(t *testing.T) {
	s := openTest(t)
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "hub-1", PrimaryAddr: "127.0.0.155:25",
				ShadowID: m.ID.String() + "-1", PrimaryDB: "db-1", Reply: "250 queued"})
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.SetServers(topo{"hub-1": "127.0.0.155", "hub-3": "127.0.0.156"})
	q.Start(ctx)
	var copies []*Message
	for range 3 {
		m := msg(s, "a@example.org", "x@b.example")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
		copies = append(copies, m)
	}
	// The reload: hub-4 at hub-1's address, hub-1 gone from the topology.
	q.SetServers(topo{"hub-4": "127.0.0.155", "hub-3": "127.0.0.156"})
	ids := []string{copies[0].ID.String() + "-1", copies[1].ID.String() + "-1", copies[2].ID.String() + "-1"}
	for _, db := range []string{"", "db-4"} {
		res, err := q.ShadowPushed("hub-4", db, ids)
		if err != nil {
			t.Fatal(err)
		}
		if res.Discarded != 0 {
			t.Errorf("hub-4 presenting database %q: %d of hub-1's copies discarded, want none", db, res.Discarded)
		}
		if n, err := q.ShadowPrimaryPresentedHere("hub-4", db); err != nil || n != 0 {
			t.Errorf("hub-4 presenting database %q: %d given back, %v", db, n, err)
		}
	}
	for _, m := range copies {
		if got, _ := q.Message(m.ID); got == nil || got.State != Shadow || got.Rcpts[0].Status != Shadowed || got.Rcpts[0].Primary != "hub-1" {
			t.Fatalf("hub-1's copy %s after hub-4's sessions: %+v; want it still held for hub-1", m.ID, got)
		}
	}
	var p *ShadowPeer
	_ = s.View(func(tx *Tx) error { p, _ = tx.Peer("hub-1"); return nil })
	if p == nil || p.DatabaseID != "db-1" || p.TakenOver {
		t.Fatalf("hub-1's record after hub-4's sessions: %+v; want it kept with db-1, nothing taken over", p)
	}
	if other, err := q.ShadowDatabaseOfAnother("hub-4", "db-4"); err != nil || other != "" {
		t.Fatalf("hub-4 presenting its own db-4: %q, %v", other, err)
	}
	// hub-1 itself, with its database, is answered.
	res, err := q.ShadowPushed("hub-1", "db-1", ids[:1])
	if err != nil || res.Discarded != 1 {
		t.Fatalf("hub-1 pushing its own discard: %d discarded, %v; want 1", res.Discarded, err)
	}
}
