package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// OwedDiscardServers names each shadow server owed a full or a partial
// discard once, and none once all were handed over (SR-15): what a stop
// pushes (delivery PushOwedDiscards).
func TestOwedDiscardServers(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	if got, err := q.OwedDiscardServers(); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %q %v", got, err)
	}
	now := time.Now()
	if err := s.Update(context.Background(), func(tx *Tx) error {
		for _, d := range []struct{ server, id string }{{"hub-b", "a-1"}, {"hub-b", "a-2"}, {"hub-a", "b-1"}, {"hub-ab", "c-1"}} {
			if err := tx.AddDiscard(d.server, d.id, now); err != nil {
				return err
			}
		}
		return tx.AddPartialDiscard("edge-1", "d-1", []string{"x@example.test", "y@example.test"}, now)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := q.OwedDiscardServers()
	if want := []string{"hub-a", "hub-ab", "hub-b", "edge-1"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("owed to %q (%v), want %q", got, err, want)
	}
	for _, server := range got {
		lines, ack := q.DiscardsPartial(server, 100)
		if len(lines) == 0 {
			t.Fatalf("%s named, nothing owed", server)
		}
		ack()
	}
	if got, err := q.OwedDiscardServers(); err != nil || len(got) != 0 {
		t.Fatalf("after every server had its notifications: %q %v", got, err)
	}
}

// A discard pushed by a server this one keeps no state for (no copy of
// its messages here: XDISCARD, shadow verbs 13) writes nothing: no
// primary record appears, which heartbeats would then follow.
func TestPushedDiscardOfUnknownPrimaryWritesNothing(t *testing.T) {
	s := openTest(t)
	q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }), ManagerConfig{})
	peer := func() *ShadowPeer {
		var p *ShadowPeer
		if err := s.View(func(tx *Tx) error { var err error; p, err = tx.Peer("hub-x"); return err }); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := q.ShadowPushed("hub-x", "", []string{"a-1"}); err != nil {
		t.Fatal(err)
	}
	if p := peer(); p != nil {
		t.Fatalf("a push from an unknown primary wrote its record: %+v", p)
	}
	// Known (it presented its database in a session): applied, the record kept.
	if _, err := q.ShadowPresented("hub-x", "db-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ShadowPushed("hub-x", "", []string{"a-1"}); err != nil {
		t.Fatal(err)
	}
	if p := peer(); p == nil || p.DatabaseID != "db-1" {
		t.Fatalf("record after a push from a known primary: %+v; want its database kept", p)
	}
}
