package clock

import (
	"testing"
	"time"
)

// SR-6 (rrstall41 item 1): Real's Boottime runs at least as fast as its
// monotonic clock (it adds a suspend of the machine, on Linux), so the
// stall guard that reads it notices every stall the monotonic clock
// shows.
func TestRealBoottimeKeepsUpWithMonotonic(t *testing.T) {
	var r Real
	b0, m0 := r.Boottime(), r.Monotonic()
	time.Sleep(20 * time.Millisecond)
	m1 := r.Monotonic()
	b1 := r.Boottime()
	if b1-b0 < m1-m0 {
		t.Fatalf("Boottime moved %v while Monotonic moved %v: it must count at least as much", b1-b0, m1-m0)
	}
}

// Fake's Suspend moves the wall clock and Boottime, not Monotonic, and
// fires no timer: Go's timers run on the monotonic clock, which leaves a
// suspend out.
func TestFakeSuspend(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tm := f.NewTimer(time.Second)
	start := f.Now()
	f.Suspend(time.Hour)
	if got := f.Now().Sub(start); got != time.Hour {
		t.Fatalf("the wall clock moved %v, want 1h", got)
	}
	if f.Monotonic() != 0 || f.Boottime() != time.Hour {
		t.Fatalf("Monotonic %v, Boottime %v after a suspend of an hour: want 0 and 1h", f.Monotonic(), f.Boottime())
	}
	select {
	case <-tm.C():
		t.Fatal("a timer fired at a suspend")
	default:
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("the timer did not fire a second of running later")
	}
	if f.Boottime() != time.Hour+time.Second {
		t.Fatalf("Boottime %v, want 1h1s", f.Boottime())
	}
}
