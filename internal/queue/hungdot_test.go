package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

// hungDotHost: every session takes the whole message and never answers
// its end (the data_timeout's deferral).
type hungDotHost struct {
	mu    sync.Mutex
	calls map[string]int
	reply string // every deferral's reply; hungDotReply when empty
}

const hungDotReply = "451 4.4.2 mx.hung.test[192.0.2.9]:25: timed out after 10m0s waiting for the reply to the end of the message"

func (h *hungDotHost) Plan(_ context.Context, m *Message, rcpts []int) []Job {
	if m.Connector == "dsn" {
		return []Job{{Dest: "mx/dsn.test", Queue: "mx:dsn.test", Rcpts: rcpts}}
	}
	return []Job{{Dest: "mx/hung.test", Queue: "mx:hung.test", Max: 2, Rcpts: rcpts}}
}

func (h *hungDotHost) Deliver(_ context.Context, m *Message, _ []byte, rcpts []int) []Result {
	out := make([]Result, len(rcpts))
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, i := range rcpts {
		if m.Connector == "dsn" {
			out[k] = Result{Rcpt: i, Outcome: RelayedOK, Queue: "mx:dsn.test", Reply: "250 ok"}
			continue
		}
		h.calls[m.Rcpts[i].Addr]++
		reply := h.reply
		if reply == "" {
			reply = hungDotReply
		}
		out[k] = Result{Rcpt: i, Outcome: Deferred, Queue: "mx:hung.test", NextHop: "mx.hung.test[192.0.2.9]:25", Reply: reply}
	}
	return out
}

// a next hop that takes every message whole and
// never answers its end fails every attempt of every message, but a
// failure after the dot changes neither the window nor the streak
// (feedback 0) — and so it changed neither the destination's last error
// nor its state: `queue destinations` showed it "idle" with no failure
// and no last error while all its mail was deferred, attempt after
// attempt. Such failures are now counted for the operator (msgFails).
func TestHungAfterDotDestinationShownFailing(t *testing.T) {
	destinationShownFailing(t, &hungDotHost{calls: map[string]int{}})
}

// a next hop whose every session ends in a TLS policy refusal — a
// connector with `tls: required` and a next hop that does not offer
// STARTTLS, or answers it 454 — fails every message, but a policy
// refusal is the message's (feedback 0: a message that may go without
// TLS still goes), and the destination was shown "idle", 0 failures,
// no last error, while all its mail waited (rt43-outbound F1). It is
// shown failing with the refusal as its last error, and after a
// restart too (destFailure).
func TestTLSPolicyRefusedDestinationShownFailing(t *testing.T) {
	const refused = "451 4.7.5 mx.hung.test[192.0.2.9]:25: STARTTLS not offered"
	destinationShownFailing(t, &hungDotHost{calls: map[string]int{}, reply: refused})
	if !destFailure(refused, "mx.hung.test[192.0.2.9]:25", "") {
		t.Errorf("a restart does not show a destination whose mail waits after %q failing", refused)
	}
}

func destinationShownFailing(t *testing.T, h *hungDotHost) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	q := NewManager(s, h, ManagerConfig{MaxActive: 100, Clock: clk, MessageExpiration: 48 * time.Hour,
		RetrySchedule: []time.Duration{time.Minute},
		Scheduler:     SchedulerConfig{InitialWindow: 2, DeadCoolDown: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	var ids []ID
	for _, to := range []string{"a@hung.test", "b@hung.test", "c@hung.test", "d@hung.test"} {
		m := msg(s, "x@example.org", to)
		m.Arrived = clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	for round := 1; round <= 3; round++ {
		waitFor(t, "every message's attempt", func() bool {
			for _, id := range ids {
				got, _ := q.Message(id)
				if got == nil || got.State != Ready || got.Attempts < round {
					return false
				}
			}
			return true
		})
		if round < 3 {
			clk.Advance(2 * time.Minute)
			q.Kick()
		}
	}
	h.mu.Lock()
	t.Logf("sessions per message: %v", h.calls)
	h.mu.Unlock()
	for _, d := range q.Destinations() {
		if d.Name != "mx/hung.test" {
			continue
		}
		t.Logf("destination: %+v", d)
		if d.State == "idle" || d.State == "active" || d.LastError == "" {
			t.Errorf("destination whose every session of 12 failed shown %q, failures %d, last error %q",
				d.State, d.Failures, d.LastError)
		}
		return
	}
	t.Errorf("destination not listed")
}
