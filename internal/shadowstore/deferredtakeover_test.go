package shadowstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
)

// SR-6 (rrrcpt40 item 1): the heartbeat the takeover bound makes due
// (deferredDue: the retry count failed before timeout × retries after the
// last contact of any kind) takes the copies over at that bound, never
// before it, and a contact of any kind just before the bound (a push:
// it moves no heartbeat schedule) moves the bound on — no heartbeat at
// the old bound takes anything over. Real queue and store, the fake
// clock stepped a second at a time; every heartbeat fails at once
// (connection refused: a primary restarting), so each is counted at the
// instant it starts.
func TestSR6DeferredHeartbeatNoTakeoverBeforeBound(t *testing.T) {
	for _, c := range []struct {
		name string
		// pushes: when (after t0, the first copy) the primary pushed
		// again; want: the heartbeats' starts and the one that takes
		// the copies over (the last).
		pushes []time.Duration
		want   []time.Duration
	}{
		// The push at +3 s, before any heartbeat failed (so it moves no
		// heartbeat schedule): the third failure (+15 s) is 12 s after
		// it, before the bound (+18 s): counted, deferred, and the
		// bound's heartbeat takes over.
		{"push before the first failure", []time.Duration{3 * time.Second},
			[]time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 18 * time.Second}},
		// A second push at +17 s, a second before that bound: the count
		// starts again from it (its failures forgotten, the schedule
		// from the push), nothing is taken over at +18 s, and the third
		// failure after it (+32 s, its own bound) takes over.
		{"push a second before the bound", []time.Duration{3 * time.Second, 17 * time.Second},
			[]time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 22 * time.Second, 27 * time.Second, 32 * time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			q := queue.NewManager(s, deadRelay{}, queue.ManagerConfig{Clock: clk})
			const body = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
			push := func() {
				t.Helper()
				cp := &queue.Message{ID: s.NewID(clk.Now()), From: "a@example.org", Arrived: clk.Now(), OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "b@sb.test"}}}
				if stored, err := q.SubmitShadowCopy(context.Background(), cp, []byte(body), "hub1.sb.test", "127.0.0.1:2525", "db-hub1-sb"); err != nil || !stored {
					t.Fatalf("copy: %v %v", stored, err)
				}
			}
			push()
			t0 := clk.Now()
			hb := &deadHeartbeats{clk: clk, s: s}
			st := shadowstore.Store{M: &q}
			rec := shadow.NewRecorder(st, nil, nil)
			sm := shadow.New(shadow.Config{Timeout: 5 * time.Second, Retries: 3, CommandTimeout: 10 * time.Second,
				Clock: clk, Store: st, Heartbeater: hb, Recorder: rec, Runner: q})
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); q.Wait() }()
			q.Start(ctx, sm)
			status := func() (failures int, taken bool) {
				for _, p := range sm.Status() {
					if p.Name == "hub1.sb.test" {
						return p.Failures, p.TakenOver
					}
				}
				return -1, false
			}
			running := func() bool {
				for _, d := range q.Destinations() {
					if d.Name == shadow.HeartbeatDest+"hub1.sb.test" && d.Running > 0 {
						return true
					}
				}
				return false
			}
			last := c.want[len(c.want)-1]
			next := 0
			for el := time.Duration(0); el < last+5*time.Second; el += time.Second {
				for _, p := range c.pushes {
					if el == p {
						push()
					}
				}
				if next < len(c.want) && el == c.want[next] {
					next++
					k := next
					waitFor(t, fmt.Sprintf("heartbeat %d at +%v", k, el), func() bool { at, _ := hb.calls(); return len(at) >= k })
					if at, _ := hb.calls(); len(at) != k || !at[k-1].Equal(t0.Add(el)) {
						t.Fatalf("heartbeats at %v, want the %dth at +%v", at, k, el)
					}
					waitFor(t, fmt.Sprintf("heartbeat %d counted", k), func() bool { return !running() })
					if _, taken := status(); taken != (el == last) {
						t.Fatalf("after the heartbeat at +%v: taken over %v, want %v (the bound's heartbeat at +%v)", el, taken, el == last, last)
					}
				}
				waitFor(t, "no heartbeat running", func() bool { return !running() })
				clk.Advance(time.Second)
			}
			if at, _ := hb.calls(); len(at) != len(c.want) {
				t.Fatalf("heartbeats at %v, want %d", at, len(c.want))
			}
		})
	}
}
