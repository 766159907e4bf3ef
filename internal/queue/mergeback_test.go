package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// rt32 F16: a primary back with its old queue receives, relayed by a
// third hub, the copy its shadow server took over while it was down (the
// shadow server re-routed it, and the hub at the point of failure queued
// it until this server answered). The original still owes the recipient
// (pending here, never handed on). Relayed in a shadow session, the copy
// is the relaying hub's — the only one off this server, since the
// takeover handed the original's own copy on — so it merges and the
// original carries that copy (carried.go): not discarded while the
// original owes the recipient, never a message on one disk, and not
// delivered twice. Relayed in no shadow session, it releases nothing
// and merges, whichever server relays it and however many Received:
// fields it gathered: the original delivers it once. Never merged: a
// recipient the original already handed on, and any copy that arrives
// while the original is in delivery (its attempt may be handing the
// recipient on at that moment, the copy being the very relay).
func TestRelayedBackCopyMergesOnlyWhenItReleasesNoCopy(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	var merges []string
	ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
		if name == "duplicate-suppressed" {
			mu.Lock()
			merges = append(merges, r.Addr)
			mu.Unlock()
		}
	})
	release := make(chan struct{})
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			switch {
			case strings.HasPrefix(m.Rcpts[i].Addr, "slow@"):
				<-release
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
			case strings.HasPrefix(m.Rcpts[i].Addr, "relayed@"):
				out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hubB", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
			default:
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
			}
		}
		return out
	}), ManagerConfig{Events: ev, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	defer close(release)
	q.Start(ctx)
	recv := func(n int) []byte {
		return []byte(strings.Repeat("Received: from x by y; Mon, 30 Nov 2026 15:00:00 +0000\r\n", n) + body)
	}

	// The original, received from hubA in a shadow session, deferred here.
	org := "0123456789abcdef0123456789abcdef"
	orig := msg(s, "a@example.org", "typo2@else.example", "relayed@b.example")
	orig.OrgID, orig.ShadowServer, orig.ShadowID = org, "hubA", "0001-aa"
	if err := q.Submit(ctx, orig, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original's first attempt", func() bool {
		m, err := q.Message(orig.ID)
		return err == nil && m.State == Ready && m.Attempts > 0
	})
	// hubA took its copy over and re-routed it; hubB relays it here in a
	// shadow session and keeps a copy: the recipient the original owes
	// merges (that copy carried, kept), the one it handed on is queued.
	back := msg(s, "a@example.org", "typo2@else.example", "relayed@b.example")
	back.OrgID, back.ShadowServer, back.ShadowID = org, "hubB", "0002-bb"
	if err := q.Submit(ctx, back, recv(3)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(back.ID)
	if err != nil {
		t.Fatalf("the relayed-back copy kept in a shadow session: %v; want it queued", err)
	}
	if len(got.Rcpts) != 1 || got.Rcpts[0].Addr != "relayed@b.example" {
		t.Fatalf("the relayed-back copy queued with %+v; want relayed@b.example only (typo2 merged, carried)", got.Rcpts)
	}
	mu.Lock()
	if len(merges) != 1 || merges[0] != "typo2@else.example" {
		t.Fatalf("merges %v, want typo2@else.example", merges)
	}
	merges = nil
	mu.Unlock()
	ids, done := q.Discards("hubB", 100)
	done()
	for _, id := range ids {
		if id == "0002-bb" {
			t.Fatalf("hubB's copy 0002-bb discarded while the original still owes its recipients")
		}
	}

	// The same copy relayed in no shadow session: its recipient the
	// original still owes merges, the one it handed on is queued.
	org2 := "fedcba9876543210fedcba9876543210"
	o2 := msg(s, "a@example.org", "x@else.example", "relayed@b.example")
	o2.OrgID = org2
	if err := q.Submit(ctx, o2, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second original's first attempt", func() bool {
		m, err := q.Message(o2.ID)
		return err == nil && m.State == Ready && m.Attempts > 0
	})
	b2 := msg(s, "a@example.org", "x@else.example", "relayed@b.example")
	b2.OrgID = org2
	if err := q.Submit(ctx, b2, recv(4)); err != nil {
		t.Fatal(err)
	}
	got, err = q.Message(b2.ID)
	if err != nil || len(got.Rcpts) != 1 || got.Rcpts[0].Addr != "relayed@b.example" {
		t.Fatalf("the copy relayed in no shadow session: %+v, %v; want only relayed@b.example queued (x merged)", got, err)
	}
	mu.Lock()
	if len(merges) != 1 || merges[0] != "x@else.example" {
		t.Fatalf("merges %v, want x@else.example", merges)
	}
	mu.Unlock()
	if o, _ := q.Message(o2.ID); o == nil || o.Rcpts[0].Status != Pending {
		t.Fatalf("the original lost its pending recipient: %+v", o)
	}

	// An original in delivery: the copy is queued.
	org3 := "00112233445566778899aabbccddeeff"
	o3 := msg(s, "a@example.org", "slow@else.example")
	o3.OrgID = org3
	if err := q.Submit(ctx, o3, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the third original in delivery", func() bool {
		m, err := q.Message(o3.ID)
		return err == nil && m.State == Active
	})
	b3 := msg(s, "a@example.org", "slow@else.example")
	b3.OrgID, b3.ShadowServer, b3.ShadowID = org3, "hubB", "0004-dd"
	if err := q.Submit(ctx, b3, recv(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(b3.ID); err != nil {
		t.Fatalf("a copy arriving while the original is in delivery was merged: %v", err)
	}
}
