package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
)

// A shadow queue mixing a copy taken over with a copy still held for
// its primary: resume, retry and redirect act on the taken-over copy
// only, and their answer says how many held copies they left alone
// (BatchResult.ShadowHeld), not just "1 message" beside a queue listing
// two.
func TestShadowQueueActionSaysHeldCopiesLeftAlone(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, nil, ManagerConfig{Clock: clk})
	ctx := context.Background()
	push := func() {
		c := msg(s, "b@example.org", "y@b.example")
		c.OrgID = orgid.New()
		if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil {
			t.Fatal(err)
		}
	}
	push()
	const timeout = 5 * time.Second
	for range 2 {
		clk.Advance(timeout)
		q.ShadowHeartbeatFailed("hub-b", clk.Now(), timeout, 2, "connection refused")
	}
	push() // hub-b back: a new copy, held for it
	if err := q.CheckShadowQueueAction("shadow:hub-b", "retry"); err != nil {
		t.Fatalf("retry of a shadow queue with a copy taken over: %v", err)
	}
	for _, action := range []string{"retry", "resume"} {
		ids, err := q.QueueSelection(action, "shadow:hub-b")
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		b, err := q.QueueBatch(ctx, action, "shadow:hub-b", "", ids, true, time.Time{})
		if err != nil && action == "retry" {
			t.Fatalf("%s: %v", action, err)
		}
		if err == nil && b.ShadowHeld != 1 {
			t.Errorf("%s of shadow:hub-b (one copy taken over, one held): ShadowHeld %d, want 1", action, b.ShadowHeld)
		}
	}
	if got, want := ShadowHeldText(1, "retry"), "1 shadow copy held for their primary, not taken over, left alone: the primary delivers it"; !strings.HasPrefix(got, want) {
		t.Errorf("ShadowHeldText(1) = %q, want it to begin %q", got, want)
	}
}
