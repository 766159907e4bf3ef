package queue

import (
	"context"
	"net"
	"testing"
	"time"
)

// topo is a topology of servers at one address each.
type topo map[string]string

func (t topo) ServerAtHostPort(name, hostport string) (bool, bool) {
	a, ok := t[name]
	host, _, err := net.SplitHostPort(hostport)
	return ok, ok && err == nil && a == host
}

// SR-3: a server that relayed a message through a send connector knows
// the hop by the connector's host name ("mx.hub-b.test"), and keeps its
// shadow copy for that name. The hop, stopping, pushes the discard it
// owes (XDISCARD) in a session authenticated as its server name
// ("hub-b") that presented its transport database id. The push is that
// primary's: identity is the authenticated server with the database id
// the copy was made against, not the name form, so the copy is dropped.
// The database id given back to it is found by the same rule.
func TestPushedDiscardOfPrimaryKnownByHostName(t *testing.T) {
	s := openTest(t)
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "mx.hub-b.test", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", PrimaryDB: "db-b", Reply: "250 queued"})
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.SetServers(topo{"hub-b": "127.0.0.2", "hub-x": "127.0.0.3"})
	q.Start(ctx)
	submit := func() *Message {
		m := msg(s, "a@example.org", "x@b.example")
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
		return m
	}
	m := submit()
	other := submit()
	// Another database under the server's name pushes nothing onto the copy.
	if _, err := q.ShadowPushed("hub-b", "db-other", []string{other.ID.String() + "-b"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(other.ID); got == nil {
		t.Fatal("a push presenting another database dropped the copy")
	}
	// rt17e-F1: another server of the topology presenting hub-b's
	// database id touches nothing, and is told its id is another's.
	if _, err := q.ShadowPushed("hub-x", "db-b", []string{m.ID.String() + "-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowPushed("hub-x", "", []string{m.ID.String() + "-b"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(m.ID); got == nil || got.State != Shadow {
		t.Fatal("hub-x, presenting hub-b's database id, discarded the copy made against hub-b")
	}
	if other, err := q.ShadowDatabaseOfAnother("hub-x", "db-b"); err != nil || other != "mx.hub-b.test" {
		t.Fatalf("hub-x presenting db-b: %q, %v; want it known as mx.hub-b.test's", other, err)
	}
	if other, err := q.ShadowDatabaseOfAnother("hub-b", "db-b"); err != nil || other != "" {
		t.Fatalf("hub-b presenting its own db-b: %q, %v; want nothing against it", other, err)
	}
	res, err := q.ShadowPushed("hub-b", "db-b", []string{m.ID.String() + "-b"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Message(m.ID); got != nil || res.Discarded != 1 {
		t.Fatalf("the copy kept for mx.hub-b.test is still here (state %v, discarded %d) after hub-b, presenting its database, pushed its discard", got.State, res.Discarded)
	}
	if got, _ := q.Message(other.ID); got == nil {
		t.Fatal("the other copy went too")
	}
}

// The sibling of the push: the returning primary's own session to this
// server presents its database id under its server name, while the
// copies taken over from it are kept under the name this server relays
// to it by (here "hub-b", as a send connector's host). The copies still
// waiting are its own again all the same: the database id says who it is.
func TestPrimaryPresentedUnderItsServerNameGivesBack(t *testing.T) {
	r := newGivebackRig(t)
	r.q.SetServers(topo{"hub-b-server": "127.0.0.2", "hub-x": "127.0.0.3"})
	m := r.takenOver(t)
	// rt17e-F1: another server presenting db1 is not hub-b.
	if n, err := r.q.ShadowPrimaryPresentedHere("hub-x", "db1"); err != nil || n != 0 {
		t.Fatalf("hub-x presenting hub-b's database: %d given back, %v", n, err)
	}
	if n, err := r.q.ShadowPrimaryPresentedHere("hub-b-server", "db-other"); err != nil || n != 0 {
		t.Fatalf("another database: %d given back, %v", n, err)
	}
	if n, err := r.q.ShadowPrimaryPresentedHere("hub-b-server", "db1"); err != nil || n != 1 {
		t.Fatalf("the same database under the server's name: %d given back, %v; want 1", n, err)
	}
	if got, _ := r.q.Message(m.ID); got.State != Shadow || got.Rcpts[0].Status != Shadowed {
		t.Fatalf("after hub-b's own session presented db1: %s %s; want the copy held for it again", got.State, got.Rcpts[0].Status)
	}
	var p *ShadowPeer
	_ = r.s.View(func(tx *Tx) error { p, _ = tx.Peer("hub-b-server"); return nil })
	if p != nil {
		t.Fatalf("a record was made under the server's name: %+v", p)
	}
}

// SR-3, SR-6 (rt44-shadow4 F1 reread): a copy relayed through a send
// connector to a next hop that presented no transport database id (a
// peer before shadow verbs 10) is kept under the connector's host name
// with no stored id. An address alone names no one (primariesOf), so a
// push of the server at that address, whatever id it presents, settles
// none of them — a kept copy may at worst be delivered twice, never one
// discarded by another host. The record is not cut off for good: this
// server's own next contact with the hop records the id it presents, and
// from then on the push of the server presenting that id is the hop's.
func TestSR6RecordWithoutDatabaseIDReachedOnceItsContactRecordsOne(t *testing.T) {
	s := openTest(t)
	d := DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Primary: "mx.hub-b.test", PrimaryAddr: "127.0.0.2:25",
				ShadowID: m.ID.String() + "-b", Reply: "250 queued"})
		}
		return out
	})
	q := NewManager(s, d, ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.SetServers(topo{"hub-b": "127.0.0.2", "hub-x": "127.0.0.3"})
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@b.example")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shadow copy", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Shadow })
	peer := func() *ShadowPeer {
		var p *ShadowPeer
		_ = s.View(func(tx *Tx) error { p, _ = tx.Peer("mx.hub-b.test"); return nil })
		return p
	}
	if p := peer(); p == nil || p.DatabaseID != "" {
		t.Fatalf("the record of a next hop that presented no id: %+v; want one with no database id", p)
	}
	sid := []string{m.ID.String() + "-b"}
	for _, db := range []string{"", "db-b"} {
		res, err := q.ShadowPushed("hub-b", db, sid)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := q.Message(m.ID); got == nil || got.State != Shadow || res.Discarded != 0 {
			t.Fatalf("hub-b's push presenting %q settled the copy of a record that keeps no id (%d discarded)", db, res.Discarded)
		}
	}
	// This server's own session to the hop: it presents db-b, recorded.
	if _, err := q.ShadowPresented("mx.hub-b.test", "db-b", nil); err != nil {
		t.Fatal(err)
	}
	if p := peer(); p == nil || p.DatabaseID != "db-b" {
		t.Fatalf("the record after this server's contact with the hop: %+v; want db-b recorded", p)
	}
	if res, err := q.ShadowPushed("hub-x", "db-b", sid); err != nil || res.Discarded != 0 {
		t.Fatalf("hub-x presenting hub-b's id: %d discarded, %v; want none", res.Discarded, err)
	}
	res, err := q.ShadowPushed("hub-b", "db-b", sid)
	if err != nil || res.Discarded != 1 {
		t.Fatalf("hub-b presenting db-b once it is recorded: %d discarded, %v; want 1", res.Discarded, err)
	}
	if got, _ := q.Message(m.ID); got != nil {
		t.Fatalf("the copy after the hop's push: %s; want it gone", got.State)
	}
}
