package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// A copy of a message that went round a relay loop (two hubs whose
// topologies disagree, or a server relaying to itself) carries the org
// id of the original still queued here. It is not a takeover
// resubmission and must never be merged into the original: the original
// is the one being relayed round the loop, so merging the copy away
// loses the message (no delivery, no DSN). Only a copy from the server
// the original was itself received from in a shadow session (the
// original's ShadowServer), carrying no more Received: fields than the
// original had when it arrived, is the returning-primary case of SR-14.
// (Another copy merges only into a recipient the original still owes
// and never handed on: TestRelayedBackCopyMergesIntoPendingOriginal.)
func TestLoopCopyNeverMergedIntoOriginal(t *testing.T) {
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
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		var out []Result
		for _, i := range rcpts {
			// Relayed in a shadow session to hubB, the loop's other hub.
			out = append(out, Result{Rcpt: i, Outcome: ShadowedOK, Queue: "site:b", Primary: "hubB", PrimaryAddr: "127.0.0.2:25", ShadowID: m.ID.String() + "-b"})
		}
		return out
	}), ManagerConfig{Events: ev, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)

	recv := func(n int) []byte {
		return []byte(strings.Repeat("Received: from x by y; Mon, 30 Nov 2026 15:00:00 +0000\r\n", n) + body)
	}
	org := "0123456789abcdef0123456789abcdef"
	// The original came from a client (no shadow session) with 1 Received.
	orig := msg(s, "a@example.org", "lost@example.net")
	orig.OrgID = org
	if err := q.Submit(ctx, orig, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to hubB", func() bool {
		m, err := q.Message(orig.ID)
		return err == nil && m.State != Active && m.Rcpts[0].Status == Shadowed
	})

	queued := func(what string, m *Message) {
		t.Helper()
		if _, err := q.Message(m.ID); err != nil {
			t.Fatalf("%s was not queued (merged away): %v", what, err)
		}
	}
	// Back from the loop, in a shadow session of the other hub, with more
	// Received fields: queued.
	loop := msg(s, "a@example.org", "lost@example.net")
	loop.OrgID, loop.ShadowServer, loop.ShadowID = org, "hubB", "0001-aa"
	if err := q.Submit(ctx, loop, recv(3)); err != nil {
		t.Fatal(err)
	}
	queued("a copy back from a relay loop", loop)
	// Relayed to itself: the shadow session's peer is this server.
	self := msg(s, "a@example.org", "lost@example.net")
	self.OrgID, self.ShadowServer, self.ShadowID = org, "hubA", "0002-bb"
	if err := q.Submit(ctx, self, recv(2)); err != nil {
		t.Fatal(err)
	}
	queued("a copy relayed to this server by itself", self)

	// An original received from edge in a shadow session; a copy from
	// edge that went round a loop (more Received) is queued, the genuine
	// takeover resubmission (same count) merges.
	org2 := "fedcba9876543210fedcba9876543210"
	o2 := msg(s, "a@example.org", "x@example.net")
	o2.OrgID, o2.ShadowServer, o2.ShadowID = org2, "edge", "0003-cc"
	if err := q.Submit(ctx, o2, recv(2)); err != nil {
		t.Fatal(err)
	}
	looped := msg(s, "a@example.org", "x@example.net")
	looped.OrgID, looped.ShadowServer, looped.ShadowID = org2, "edge", "0004-dd"
	if err := q.Submit(ctx, looped, recv(4)); err != nil {
		t.Fatal(err)
	}
	queued("a copy from the original's shadow server with more Received fields", looped)
	taken := msg(s, "a@example.org", "x@example.net")
	taken.OrgID, taken.ShadowServer, taken.ShadowID = org2, "edge", "0003-cc"
	if err := q.Submit(ctx, taken, recv(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Message(taken.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the takeover resubmission was queued: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(merges) != 1 || merges[0] != "x@example.net" {
		t.Fatalf("merges: %v, want only the takeover resubmission's", merges)
	}
}
