package queue

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash-duplicate window (SR-8, SR-11): this hub holds a message,
// received from hubA in a shadow session (hubA keeps copy 0001-aa), and
// still owes its recipient (deferred here). hubA died before it had the
// discard of an earlier hop's copy; that copy, taken over, comes here
// relayed by hubB in a shadow session under another id (hubB keeps copy
// 0002-bb), with the same org id and recipient. It merges into the
// original — delivered once — and hubB's copy is carried by the
// original: not discarded while the original still owes the recipient
// (the message is never on this disk only), and owed its discard in the
// commit that ends the original, with hubA's.
func TestTakenOverCopyUnderAnotherIDMergesAndIsCarried(t *testing.T) {
	s := openTest(t)
	var mu sync.Mutex
	deliver := false
	sent := 0
	q := NewManager(s, DelivererFunc(func(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
		mu.Lock()
		defer mu.Unlock()
		var out []Result
		for _, i := range rcpts {
			if deliver {
				sent++
				out = append(out, Result{Rcpt: i, Outcome: RelayedOK, Reply: "250 ok"})
			} else {
				out = append(out, Result{Rcpt: i, Outcome: Deferred, Reply: "451 4.4.1 later"})
			}
		}
		return out
	}), ManagerConfig{RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	recv := func(n int) []byte {
		return []byte(strings.Repeat("Received: from x by y; Mon, 30 Nov 2026 15:00:00 +0000\r\n", n) + body)
	}
	owed := func(server string) []string {
		var ids []string
		if err := s.View(func(tx *Tx) error { ids = tx.Discards(server, 100); return nil }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	org := "0123456789abcdef0123456789abcdef"
	orig := msg(s, "a@example.org", "b@remote.example")
	orig.OrgID, orig.ShadowServer, orig.ShadowID = org, "hubA", "0001-aa"
	if err := q.Submit(ctx, orig, recv(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original's first attempt", func() bool {
		m, err := q.Message(orig.ID)
		return err == nil && m.State == Ready && m.Attempts > 0
	})
	back := msg(s, "a@example.org", "B@Remote.Example")
	back.OrgID, back.ShadowServer, back.ShadowID = org, "hubB", "0002-bb"
	if err := q.Submit(ctx, back, recv(3)); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Message(back.ID); err == nil {
		t.Fatalf("the taken-over copy was queued beside the original: %+v", got.Rcpts)
	}
	if ids := owed("hubB"); len(ids) != 0 {
		t.Fatalf("hubB's copy discarded while the original still owes its recipient: %q", ids)
	}
	// hubB asking whether its copy is still needed (XQUERYHELD) hears
	// "held" while the original carries it.
	if done, err := q.ShadowHeld("hubB", []string{"0002-bb"}); err != nil || len(done) != 0 {
		t.Fatalf("XQUERYHELD for the carried copy answered done %q (%v); want held", done, err)
	}
	mu.Lock()
	deliver = true
	mu.Unlock()
	if err := q.RetryMessage(ctx, orig.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original delivered", func() bool { _, err := q.Message(orig.ID); return err != nil })
	if ids := owed("hubB"); !slices.Equal(ids, []string{"0002-bb"}) {
		t.Fatalf("hubB owed %q after the original ended, want its copy 0002-bb", ids)
	}
	if done, err := q.ShadowHeld("hubB", []string{"0002-bb"}); err != nil || !slices.Equal(done, []string{"0002-bb"}) {
		t.Fatalf("XQUERYHELD after the original ended: %q (%v); want done", done, err)
	}
	if ids := owed("hubA"); !slices.Equal(ids, []string{"0001-aa"}) {
		t.Fatalf("hubA owed %q after the original ended, want 0001-aa", ids)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent != 1 {
		t.Fatalf("the recipient was sent %d times, want once", sent)
	}
}
