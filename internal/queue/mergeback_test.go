package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// rt32 F16: a primary back with its old queue receives, relayed by a
// third hub, the copy its shadow server took over while it was down (the
// shadow server re-routed it, and the hub at the point of failure queued
// it until this server answered). The original still owes the recipient
// (pending here, never handed on): the copy merges into it, whichever
// server relays it and however many Received: fields it gathered, and
// the relaying hub's shadow copy is discarded at once. The original
// delivers it once. Not merged (queued, as a loop copy must be): a
// recipient the original already handed on, and any copy that arrives
// while the original is in delivery (its attempt may be handing the
// recipient on at that moment, the copy being the very relay).
func TestRelayedBackCopyMergesIntoPendingOriginal(t *testing.T) {
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
	// hubA took its copy over and re-routed it; hubB relays it here.
	back := msg(s, "a@example.org", "typo2@else.example", "relayed@b.example")
	back.OrgID, back.ShadowServer, back.ShadowID = org, "hubB", "0002-bb"
	if err := q.Submit(ctx, back, recv(3)); err != nil {
		t.Fatal(err)
	}
	got, err := q.Message(back.ID)
	if err != nil {
		t.Fatalf("the relayed-back copy: %v; want it queued with the recipient the original handed on", err)
	}
	if len(got.Rcpts) != 1 || got.Rcpts[0].Addr != "relayed@b.example" {
		t.Fatalf("the relayed-back copy queued with %+v; want only relayed@b.example (typo2 merged into the original)", got.Rcpts)
	}
	mu.Lock()
	if len(merges) != 1 || merges[0] != "typo2@else.example" {
		t.Fatalf("merges %v, want typo2@else.example", merges)
	}
	mu.Unlock()
	if o, _ := q.Message(orig.ID); o == nil || o.Rcpts[0].Status != Pending {
		t.Fatalf("the original lost its pending recipient: %+v", o)
	}

	// Every recipient merged: nothing queued, and hubB's shadow copy is
	// discarded at once (the original's own discard goes to hubA).
	org2 := "fedcba9876543210fedcba9876543210"
	o2 := msg(s, "a@example.org", "x@else.example")
	o2.OrgID = org2
	if err := q.Submit(ctx, o2, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second original's first attempt", func() bool {
		m, err := q.Message(o2.ID)
		return err == nil && m.State == Ready && m.Attempts > 0
	})
	b2 := msg(s, "a@example.org", "x@else.example")
	b2.OrgID, b2.ShadowServer, b2.ShadowID = org2, "hubB", "0003-cc"
	if err := q.Submit(ctx, b2, recv(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(b2.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a copy whose every recipient the original owes was queued: %v", err)
	}
	ids, done := q.Discards("hubB", 100)
	done()
	found := false
	for _, id := range ids {
		found = found || id == "0003-cc"
	}
	if !found {
		t.Fatalf("discards for hubB %v; want 0003-cc at once", ids)
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
