package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
)

type deferCount struct {
	mu sync.Mutex
	n  map[string]int // defer events by recipient
}

func (d *deferCount) Event(name string, m *Message, r *Recipient, reply string) {
	if name != "defer" || r == nil {
		return
	}
	d.mu.Lock()
	d.n[r.Addr]++
	d.mu.Unlock()
}

// attemptsRunning is the number of slots of q's active set taken: a
// claim's or a submission's attempt holds one until its results are
// committed and their events written (complete).
func attemptsRunning(q *Manager) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active
}

func (d *deferCount) total() (n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.n {
		n += v
	}
	return n
}

// rt17c F2 (TD-): a message waiting on a dead destination gets no new
// defer event per cool-down. Its deferral without a connection is
// tracked when its state or reason changes (the first time it finds the
// destination dead, or again after an attempt of its own), so the
// tracking history grows with what happened, not with the number of
// cool-downs times the queue's size.
func TestDeadDestinationWaitTrackedOncePerChange(t *testing.T) {
	s := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clock.NewFake(t0)
	p := newPlanned()
	p.refuse["down.test"] = true
	ev := &deferCount{n: map[string]int{}}
	q := NewManager(s, p, ManagerConfig{MaxActive: 100, Clock: clk, Events: ev,
		RetrySchedule: []time.Duration{10 * time.Second, time.Hour},
		Scheduler:     SchedulerConfig{InitialWindow: 1, DeadCoolDown: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(ctx)
	const n = 10
	var ids []ID
	for i := range n {
		m := msg(s, "a@example.org", string(rune('a'+i))+"@down.test")
		m.Arrived = clk.Now()
		if err := q.Submit(ctx, m, []byte(body)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	// Every message deferred, and every attempt over: an attempt writes
	// its events after its results' commit, so a record read as deferred
	// may still have its event to come (events counted then fell short
	// under load); the active set's slot is given back after them.
	settled := func(what string) {
		waitFor(t, what, func() bool {
			for _, id := range ids {
				got, _ := q.Message(id)
				if got == nil || got.State != Ready || !got.NextAttempt.After(clk.Now()) {
					return false
				}
			}
			return attemptsRunning(q) == 0
		})
	}
	settled("every message deferred once")
	first := ev.total()
	if first < n {
		t.Fatalf("%d defer events for %d messages, want one each at least", first, n)
	}
	const cycles = 5
	for c := range cycles {
		probes := p.count(p.calls, "down.test")
		clk.Advance(time.Minute + time.Second)
		q.Kick()
		waitFor(t, "the probe of the cool-down's end", func() bool { return p.count(p.calls, "down.test") > probes })
		settled("every message deferred again")
		_ = c
	}
	// Each cool-down's end: one probe (an attempt, tracked), and the
	// message probed before goes back to waiting (a change, tracked).
	if got, limit := ev.total()-first, 2*cycles+2; got > limit {
		ev.mu.Lock()
		var per []string
		for a, k := range ev.n {
			per = append(per, a+"="+string(rune('0'+min(k, 9))))
		}
		ev.mu.Unlock()
		t.Fatalf("%d defer events over %d cool-downs of a dead destination holding %d messages, want at most %d (%s)",
			got, cycles, n, limit, strings.Join(per, " "))
	}
}
