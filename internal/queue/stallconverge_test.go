package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// expectOneRound fails unless the overdue retry starts once the round
// that began is released, with no second round of questions to the
// holders before it.
func expectOneRound(t *testing.T, d *scripted, began, release chan struct{}, why string) {
	t.Helper()
	release <- struct{}{}
	select {
	case <-d.calls:
	case <-began:
		release <- struct{}{} // let the test end
		t.Fatal(why)
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt after the round of questions to the holders")
	}
}

// SR-6, SR-16 (rr2stall41 item 1): a round of questions to the holders
// that takes longer than the guard's bound — holders slow to answer on a
// busy machine, up to 3 s against a bound of 1 s — while the process
// runs (the guard reads the clock throughout, as its tick does) is no stall: the
// round's end lets the held attempts go. Were its own time a stall,
// each round's end would start another and no attempt would ever start.
func TestStallLongRoundWhileRunningConverges(t *testing.T) {
	q, clk, d, began, release := stallAgainQueue(t, nil)
	clk.Advance(61 * time.Second) // a stall; the retry overdue
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after a stall of a minute")
	}
	for range 12 { // 3 s of round, the process running: a reading every 250 ms
		clk.Advance(250 * time.Millisecond)
		if !q.stallHeld(context.Background()) {
			t.Fatal("attempts let go while the round ran")
		}
	}
	expectOneRound(t, d, began, release, "a round of 3 s that the process ran through started another: under load no attempt would ever start")
}

// SR-6, SR-16 (rr2stall41 item 1): a stall after the stall was noticed
// but before the holders are asked — the round's goroutine late to run,
// the give-back waiting for the jobs to settle and committing — is one
// the holders' answers postdate: what they took over during it they say.
// It asked them a second time (the round's end saw the gap, or the tick
// noted it as a stall during the round), and on a busy machine, where
// the give-back's settle and commit are what runs late, each round
// started the next: delivery stopped.
func TestStallBeforeQuestionsAsksOnce(t *testing.T) {
	q, clk, d, began, release := stallAgainQueue(t, nil)
	var fired atomic.Bool
	hook := func(part string) {
		if part == PanicStall && fired.CompareAndSwap(false, true) {
			clk.Advance(1500 * time.Millisecond) // stopped before the give-back and the questions
		}
	}
	q.panics.hook.Store(&hook)
	clk.Advance(61 * time.Second) // a stall; the retry overdue
	select {
	case <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("no round after a stall of a minute")
	}
	if !fired.Load() {
		t.Fatal("the round began without the stall before its questions")
	}
	expectOneRound(t, d, began, release, "a stall before the holders were asked made the round's end ask them again: their answers already postdated it")
}
