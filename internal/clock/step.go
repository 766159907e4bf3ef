package clock

import (
	"sync/atomic"
	"time"
)

// Monotonic is implemented by clocks that keep a time steps of the wall
// clock do not move (Go's monotonic clock for Real; what Advance moved
// for Fake).
type Monotonic interface {
	Monotonic() time.Duration
}

var processStart = time.Now()

// Monotonic is the time since the process started, on the monotonic clock.
func (Real) Monotonic() time.Duration { return time.Since(processStart) }

// Boottime is implemented by clocks that also keep the time the machine
// was suspended, which the monotonic clock leaves out (Linux's
// CLOCK_BOOTTIME for Real; Monotonic plus every Suspend for Fake): what
// another machine saw pass while this one did not run.
type Boottime interface {
	Boottime() time.Duration
}

// Boottime is the time since the process started, a suspend of the
// machine included (CLOCK_BOOTTIME; where there is none, Monotonic).
// One clock for the life of the process: CLOCK_BOOTTIME only when it was
// read at the start (bootOK), and a later failed read gives the last
// good reading rather than Monotonic — a difference of readings of the
// two would be meaningless.
func (r Real) Boottime() time.Duration {
	if !bootOK {
		return r.Monotonic()
	}
	if b, ok := boottime(); ok {
		lastBoot.Store(int64(b - bootStart))
		return b - bootStart
	}
	return time.Duration(lastBoot.Load()) // bootOK and now failing: not seen on Linux ≥ 2.6.39
}

// lastBoot is Real.Boottime's last good reading.
var lastBoot atomic.Int64

// Boottime is the sum of every Advance and every Suspend.
func (f *Fake) Boottime() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono + f.slept
}

// Monotonic is the sum of every Advance; Jump does not move it.
func (f *Fake) Monotonic() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

// StepDetector finds steps of the wall clock (an operator's date, a bad
// NTP server's correction): how much further the wall clock moved than
// the monotonic clock between two calls of Step.
type StepDetector struct {
	c    Clock
	m    Monotonic // nil: the clock cannot tell, and Step reports none
	wall time.Time
	mono time.Duration
}

// NewStepDetector starts watching c.
func NewStepDetector(c Clock) *StepDetector {
	d := &StepDetector{c: c}
	d.m, _ = c.(Monotonic)
	d.Step()
	return d
}

// Step reports the wall clock's step since the last call (positive:
// forward) and starts measuring anew.
func (d *StepDetector) Step() time.Duration {
	if d.m == nil {
		return 0
	}
	mono := d.m.Monotonic()
	wall := d.c.Now().Round(0) // the wall reading only
	step := time.Duration(0)
	if !d.wall.IsZero() {
		step = wall.Sub(d.wall) - (mono - d.mono)
	}
	d.wall, d.mono = wall, mono
	return step
}
