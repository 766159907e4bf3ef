package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderAndStops(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	a, b, c := f.NewTimer(3*time.Second), f.NewTimer(time.Second), f.NewTimer(2*time.Second)
	if !c.Stop() || c.Stop() {
		t.Fatal("Stop reports whether it stopped a pending timer")
	}
	f.Advance(1500 * time.Millisecond)
	select {
	case at := <-b.C():
		if at != time.Unix(1, 0) {
			t.Errorf("fired with %v", at)
		}
	default:
		t.Fatal("a due timer did not fire")
	}
	select {
	case <-a.C():
		t.Fatal("a timer fired early")
	default:
	}
	f.Advance(2 * time.Second)
	<-a.C()
	select {
	case <-c.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if f.Pending() != 0 || !f.Now().Equal(time.Unix(3, 500e6)) {
		t.Errorf("pending %d, now %v", f.Pending(), f.Now())
	}
	if z := f.NewTimer(0); len(z.C()) != 1 {
		t.Error("a zero timer fires at once")
	}
}

// Jump steps the wall clock, not the timers: a timer armed before keeps
// its remaining duration, forward or back.
func TestFakeJumpKeepsTimers(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	tm := f.NewTimer(10 * time.Second)
	f.Jump(time.Hour)
	if !f.Now().Equal(start.Add(time.Hour)) {
		t.Fatalf("now %v", f.Now())
	}
	select {
	case <-tm.C():
		t.Fatal("a wall clock step fired a timer")
	default:
	}
	f.Jump(-2 * time.Hour)
	f.Advance(9 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("a step back delayed the timer")
	}
}

// StepDetector tells time passing (Advance) from steps (Jump), both ways.
func TestStepDetector(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := NewStepDetector(f)
	f.Advance(10 * time.Minute)
	if s := d.Step(); s != 0 {
		t.Fatalf("time passing reported as a step of %v", s)
	}
	f.Advance(time.Minute)
	f.Jump(time.Hour)
	f.Advance(time.Minute)
	if s := d.Step(); s != time.Hour {
		t.Fatalf("step %v, want 1h", s)
	}
	f.Jump(-90 * time.Minute)
	if s := d.Step(); s != -90*time.Minute {
		t.Fatalf("step %v, want -1h30m", s)
	}
	if s := d.Step(); s != 0 {
		t.Fatalf("a step reported twice: %v", s)
	}
	// The real clock does not step in a test.
	r := NewStepDetector(Real{})
	time.Sleep(2 * time.Millisecond)
	if s := r.Step(); s > time.Second || s < -time.Second {
		t.Fatalf("real clock step %v", s)
	}
}
