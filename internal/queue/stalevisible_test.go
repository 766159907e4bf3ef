package queue

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-17, SR-11 (rdsr1749): a shadow server that judges a discard kept
// aside stale — a copy pushed under the same org id with a higher mark
// (a new copy) — forgets the discard and keeps the copy. Should the
// judgement be wrong (a primary whose mark was read too early, an
// earlier release), that copy is settled by no discard and delivered a
// second time when the primary is lost: an operator must be able to see
// every copy kept over a discard so judged — a log line naming the
// primary, the org id and both marks, the copy's "shadow" event saying
// so, and a counter.
func TestStaleEarlyDiscardKeptCopyIsVisible(t *testing.T) {
	for _, partial := range []bool{false, true} {
		s := openTest(t)
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		var logs bytes.Buffer
		var mu sync.Mutex
		var shadowReplies []string
		ev := eventsFunc(func(name string, m *Message, r *Recipient, reply string) {
			mu.Lock()
			defer mu.Unlock()
			if name == "shadow" {
				shadowReplies = append(shadowReplies, reply)
			}
		})
		q := NewManager(s, DelivererFunc(func(context.Context, *Message, []byte, []int) []Result { return nil }),
			ManagerConfig{Clock: clk, Events: ev, Log: slog.New(slog.NewTextHandler(&logs, nil))})
		m := receiptCopy(s, "x@b.example")
		if _, _, err := q.ShadowMarkSeen("hub-a", "dbA", 7, q.ShadowMarkFloor("hub-a")); err != nil {
			t.Fatal(err)
		}
		line := m.OrgID
		if partial {
			line = PartialDiscard{ID: m.OrgID, Addr: "x@b.example"}.Wire()
		}
		if _, err := q.ShadowContact("hub-a", "dbA", []string{line}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Minute)
		if !pushMarked(t, q, m, 9) {
			t.Fatalf("partial %v: the copy pushed with mark 9 over a discard under 7 was not kept", partial)
		}
		if n := q.StaleEarlyDiscards(); n != 1 {
			t.Errorf("partial %v: counted %d copies kept over a discard judged stale, want 1", partial, n)
		}
		out := logs.String()
		if !strings.Contains(out, "stale") || !strings.Contains(out, m.OrgID) || !strings.Contains(out, "hub-a") {
			t.Errorf("partial %v: no log line names the copy of %s kept over hub-a's discard judged stale:\n%s", partial, m.OrgID, out)
		}
		mu.Lock()
		got := strings.Join(shadowReplies, "|")
		mu.Unlock()
		if !strings.Contains(got, "stale") {
			t.Errorf("partial %v: the copy's shadow event %q does not say it was kept over a discard judged stale", partial, got)
		}
	}
}

// A push the discard applies to (its mark not above the discard's)
// counts nothing and logs no stale discard.
func TestEarlyDiscardAppliedIsNotCountedStale(t *testing.T) {
	q, _, m := earlyStaleFixture(t, false)
	if pushMarked(t, q, m, 6) {
		t.Fatal("the abandoned push (mark 6 ≤ 7) was kept after its discard")
	}
	if n := q.StaleEarlyDiscards(); n != 0 {
		t.Fatalf("counted %d stale discards for a discard that applied", n)
	}
}
