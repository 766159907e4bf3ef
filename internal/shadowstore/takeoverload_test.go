package shadowstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
)

// deadRelay relays everything toward hub1.sb.test, which refuses every
// connection: its destination soon goes dead, and the scheduler then
// answers its jobs inside the claim.
type deadRelay struct{}

func (deadRelay) Plan(_ context.Context, m *queue.Message, rcpts []int) []queue.Job {
	return []queue.Job{{Dest: "org/hub1.sb.test", Queue: "org:site:sb", Max: 2, Rcpts: rcpts}}
}

func (deadRelay) Deliver(ctx context.Context, m *queue.Message, body []byte, rcpts []int) []queue.Result {
	out := make([]queue.Result, len(rcpts))
	for k, i := range rcpts {
		out[k] = queue.Result{Rcpt: i, Outcome: queue.Deferred, Queue: "org:site:sb", NextHop: "hub1.sb.test:25",
			Reply: "451 4.4.1 connect to hub1.sb.test: connection refused"}
	}
	return out
}

// deadHeartbeats is the heartbeater toward the dead primary: every
// heartbeat fails at once; it records when each started and how much
// mail was still due then.
type deadHeartbeats struct {
	clk clock.Clock
	s   *queue.Store
	mu  sync.Mutex
	at  []time.Time
	due []int
}

func (h *deadHeartbeats) Heartbeat(ctx context.Context, primary, addr string, save shadow.Save) error {
	n := 0
	_ = h.s.View(func(tx *queue.Tx) error { n = len(tx.Due(h.clk.Now(), 1<<30)); return nil })
	h.mu.Lock()
	h.at = append(h.at, h.clk.Now())
	h.due = append(h.due, n)
	h.mu.Unlock()
	return errors.New("dial tcp 127.0.0.1:2525: connect: connection refused")
}

func (h *deadHeartbeats) calls() ([]time.Time, []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.at...), append([]int(nil), h.due...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// F-R1: a dead primary under a stream of mail toward it. The heartbeats
// keep their times — one timeout after the last contact, then a timeout
// after the start of each failed one — while the scheduler is busy
// answering the dead destination's backlog, and the copies are taken
// over timeout × retries after the last contact. (Before, claiming
// looped while it found full batches, the shadow manager was not
// stepped, and the primary stayed "healthy" with 0 failed heartbeats
// for as long as the stream flowed.)
func TestTakeoverOnTimeUnderDeliveryLoad(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := queue.NewManager(s, deadRelay{}, queue.ManagerConfig{Clock: clk, MaxActive: 50})
	const body = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

	// A copy held for hub1.sb.test: the last contact is now.
	cp := &queue.Message{ID: s.NewID(clk.Now()), From: "a@example.org", Arrived: clk.Now(), OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "b@sb.test"}}}
	if stored, err := q.SubmitShadowCopy(context.Background(), cp, []byte(body), "hub1.sb.test", "127.0.0.1:2525", "db-hub1-sb"); err != nil || !stored {
		t.Fatalf("copy: %v %v", stored, err)
	}
	t0 := clk.Now()
	// The backlog toward the primary's site, all due now.
	if err := s.Update(context.Background(), func(tx *queue.Tx) error {
		for range 6000 {
			m := &queue.Message{ID: tx.NewID(clk.Now()), From: "s@ext.test", Arrived: clk.Now(), State: queue.Ready,
				NextAttempt: clk.Now(), Rcpts: []queue.Recipient{{Addr: "u@sb.test"}}}
			if err := tx.PutNew(m, []byte(body)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	hb := &deadHeartbeats{clk: clk, s: s}
	st := shadowstore.Store{M: &q}
	rec := shadow.NewRecorder(st, nil, nil)
	sm := shadow.New(shadow.Config{Timeout: 5 * time.Second, Retries: 3, CommandTimeout: 10 * time.Second,
		Clock: clk, Store: st, Heartbeater: hb, Recorder: rec, Runner: q})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx, sm)
	waitFor(t, "the primary's site dead", func() bool {
		for _, d := range q.Destinations() {
			if d.Name == "org/hub1.sb.test" && d.State == "dead" {
				return true
			}
		}
		return false
	})

	failures := func() int {
		for _, p := range sm.Status() {
			if p.Name == "hub1.sb.test" {
				return p.Failures
			}
		}
		return -1
	}
	// The heartbeat task's window slot: a failure is recorded before
	// its task ends, and a step meanwhile finds the window full ("asked
	// again at the next step", a second later — which a fake clock
	// stepped by the test never reaches).
	heartbeatRunning := func() bool {
		for _, d := range q.Destinations() {
			if d.Name == shadow.HeartbeatDest+"hub1.sb.test" && d.Running > 0 {
				return true
			}
		}
		return false
	}
	for k := 1; k <= 3; k++ {
		waitFor(t, "no heartbeat running", func() bool { return !heartbeatRunning() })
		clk.Advance(5 * time.Second)
		waitFor(t, fmt.Sprintf("heartbeat %d's failure counted (failures %d, heartbeats %v)", k, failures(), len(hb.at)), func() bool { return failures() == k })
		at, due := hb.calls()
		if len(at) != k || !at[k-1].Equal(t0.Add(time.Duration(k)*5*time.Second)) {
			t.Fatalf("heartbeats at %v, want the %dth at +%v", at, k, time.Duration(k)*5*time.Second)
		}
		if k == 1 && due[0] == 0 {
			t.Fatalf("the first heartbeat came only once the whole backlog toward the primary was answered")
		}
	}
	waitFor(t, "the takeover", func() bool {
		for _, p := range sm.Status() {
			if p.Name == "hub1.sb.test" {
				return p.TakenOver
			}
		}
		return false
	})
}
