package queue

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
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
		q, _, m := earlyStaleFixtureWith(t, partial, ManagerConfig{Events: ev, Log: slog.New(slog.NewTextHandler(&logs, nil))})
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
