package shadow

import (
	"errors"
	"testing"
	"time"
)

// The wall clock steps forward by an hour: every primary gets one
// heartbeat at once (its last contact looks an hour old), but a takeover
// still needs retries failed heartbeats a timeout apart: no mass
// takeover.
func TestClockStepForwardNoMassTakeover(t *testing.T) {
	m, st, hb, clk := setup()
	hb.err = errors.New("connection refused")
	step(t, m, hb, clk, 100*time.Second)
	clk.Jump(time.Hour)
	step(t, m, hb, clk, time.Second)
	if hb.n("hub-b") != 1 || len(st.taken()) != 0 {
		t.Fatalf("after the step: %d heartbeats, takeovers %v", hb.n("hub-b"), st.taken())
	}
	step(t, m, hb, clk, 599*time.Second)
	if hb.n("hub-b") != 2 || len(st.taken()) != 0 {
		t.Fatalf("%d heartbeats, takeovers %v: taken over before three failures", hb.n("hub-b"), st.taken())
	}
	step(t, m, hb, clk, time.Second)
	if hb.n("hub-b") != 3 || len(st.taken()) != 1 {
		t.Fatalf("%d heartbeats, takeovers %v", hb.n("hub-b"), st.taken())
	}
}

// The wall clock steps back by an hour: the last contact now lies in
// the future. Heartbeats must not stop for the hour (a dead primary would
// be taken over an hour late, discards would wait): the next one runs at
// once and re-anchors the timer.
func TestClockStepBackHeartbeatsGoOn(t *testing.T) {
	m, st, hb, clk := setup()
	step(t, m, hb, clk, 100*time.Second)
	clk.Jump(-time.Hour)
	step(t, m, hb, clk, time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("%d heartbeats after the clock went back", hb.n("hub-b"))
	}
	step(t, m, hb, clk, 299*time.Second)
	if hb.n("hub-b") != 1 {
		t.Fatalf("%d heartbeats: the timer was not re-anchored", hb.n("hub-b"))
	}
	step(t, m, hb, clk, time.Second)
	if hb.n("hub-b") != 2 || len(st.taken()) != 0 {
		t.Fatalf("%d heartbeats, takeovers %v", hb.n("hub-b"), st.taken())
	}
	// A primary that dies after the step is taken over on time.
	hb.set(func(h *fakeHB) { h.err = errors.New("connection refused") })
	step(t, m, hb, clk, 900*time.Second)
	if len(st.taken()) != 1 {
		t.Fatalf("takeovers %v after three timeouts", st.taken())
	}
}

// The clock steps back while the primary is down: its last contact lies
// in the future, but failed heartbeats stay a timeout apart, so the
// takeover comes after timeout × retries, not at once.
func TestClockStepBackFailingPrimaryNoMassTakeover(t *testing.T) {
	m, st, hb, clk := setup()
	hb.err = errors.New("connection refused")
	step(t, m, hb, clk, 100*time.Second)
	clk.Jump(-time.Hour)
	step(t, m, hb, clk, 10*time.Second)
	if hb.n("hub-b") != 1 || len(st.taken()) != 0 {
		t.Fatalf("%d heartbeats, takeovers %v soon after the step back", hb.n("hub-b"), st.taken())
	}
	step(t, m, hb, clk, 589*time.Second)
	if len(st.taken()) != 0 {
		t.Fatalf("taken over early: %v", st.taken())
	}
	step(t, m, hb, clk, 2*time.Second)
	if hb.n("hub-b") != 3 || len(st.taken()) != 1 {
		t.Fatalf("%d heartbeats, takeovers %v", hb.n("hub-b"), st.taken())
	}
}
