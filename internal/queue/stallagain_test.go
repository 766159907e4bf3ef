package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
)

// stallAgainQueue starts a manager whose stall guard has the shortest
// bound (serve.go stallAfter, 1 s) and a message deferred once (retry a
// minute later). Each round of the guard reports its start on began and
// holds until release gets a value; the first round then runs end(clk)
// before it returns (nil: nothing).
func stallAgainQueue(t *testing.T, end func(*clock.Fake)) (q *Manager, clk *clock.Fake, d *scripted, began, release chan struct{}) {
	t.Helper()
	s := openTest(t)
	clk = clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	accept := false
	d, del := queuedDeliverer(&accept)
	q = NewManager(s, del, ManagerConfig{Clock: clk, Hostname: "mx.test", RetrySchedule: []time.Duration{time.Minute}})
	began = make(chan struct{}, 16)
	release = make(chan struct{}, 16)
	var rounds atomic.Int32
	q.GuardStall(func() time.Duration { return time.Second }, func(ctx context.Context) {
		n := rounds.Add(1)
		began <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		if n == 1 && end != nil {
			end(clk)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Wait() })
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@slow.example")
	q.Submit(ctx, m, []byte(body))
	d.wait(t)
	waitFor(t, "deferral", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })
	return q, clk, d, began, release
}

// expectSecondRound fails unless a second round of questions to the
// holders begins after the first was released, before any attempt
// starts; then it lets that round end and the overdue retry run.
func expectSecondRound(t *testing.T, d *scripted, began, release chan struct{}) {
	t.Helper()
	release <- struct{}{}
	select {
	case <-began:
	case <-d.calls:
		t.Fatal("an attempt started after a stall during the round of questions to the holders, before they were asked again: what a holder took over while this process was stopped goes twice")
	case <-time.After(10 * time.Second):
		t.Fatal("no second round of questions to the holders after a stall during the first")
	}
	select {
	case <-d.calls:
		t.Fatal("an attempt started while the second round ran")
	default:
	}
	release <- struct{}{}
	d.wait(t) // the overdue retry, once the holders were asked again
}

// SR-6, SR-16 (rrstall41 item 1): a stall while the stall guard's round
// runs — the holders answered, then this process was stopped for longer
// than their takeover bound before the round returned — is a stall as
// any: the holders may have taken copies over since they answered. The
// guard's tick read the gap with the round busy and dropped it, and the
// round's end started the held attempts: they delivered what a holder
// had taken over meanwhile.
func TestStallDuringRoundAsksHoldersAgain(t *testing.T) {
	q, clk, d, began, release := stallAgainQueue(t, nil)
	clk.Advance(61 * time.Second) // a stall; the retry overdue
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after a stall of a minute")
	}
	clk.Advance(1500 * time.Millisecond) // stopped again, the round running
	want := clk.Boottime()
	// The guard arms its next tick only once the tick that began the
	// round returned (runStallGuard): an advance before that re-arm
	// fires no tick, and the tick armed after it is due a tick later.
	// Then one tick more of running time fires it — its reading still a
	// stall, well over the bound since the reading before the advance
	// (CI run 155 timed out here under -race).
	for i := 0; stallLast(q) < want; i++ {
		if i == 200 {
			t.Fatal("timed out waiting for the guard's tick read the clock after the second stall")
		}
		time.Sleep(25 * time.Millisecond)
		if i%8 == 7 {
			clk.Advance(q.stall.tick())
		}
	}
	expectSecondRound(t, d, began, release)
}

// SR-6, SR-16 (rrstall41 item 1): a stall between the round's return
// and its end (the holders answered; the process stopped before the
// held attempts were let go) was taken for the round's own time: the
// end set the guard's last reading to the clock after the stall
// (max(last, now)) and started the attempts at once.
func TestStallAtRoundEndAsksHoldersAgain(t *testing.T) {
	_, clk, d, began, release := stallAgainQueue(t, func(clk *clock.Fake) { clk.Advance(1500 * time.Millisecond) })
	clk.Advance(61 * time.Second)
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after a stall of a minute")
	}
	expectSecondRound(t, d, began, release)
}

// SR-6, SR-16 (rrstall41 item 1): a suspend of the machine (a virtual
// machine paused and resumed, a host's sleep) is a stall as a SIGSTOP
// is: the holders, on other machines, count the time and take the
// copies over. The guard read the monotonic clock, which leaves a
// suspend out (Linux's CLOCK_MONOTONIC): an hour asleep read as one
// tick, and the attempts went on without asking the holders.
func TestStallSuspendOfMachineIsAStall(t *testing.T) {
	_, clk, began, release := stallJitterManager(t, nil)
	waitFor(t, "the guard's tick armed", func() bool { return clk.Pending() >= 1 })
	clk.Suspend(time.Hour)
	clk.Advance(250 * time.Millisecond) // the guard's next tick, a tick after the resume
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round of questions to the holders after the machine was suspended for an hour")
	}
	release <- struct{}{}
}
