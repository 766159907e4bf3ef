package queue

import (
	"context"
	"testing"
)

// SR-6 (rt47 F1a): a returning primary hears BUSY only of the copies
// whose attempt has reached the next hop here. Five copies on receipt
// taken over from hub-b for failed heartbeats, their next hop slow: two
// attempts run (the window is two), three jobs only wait for a slot.
// hub-b answers again with the database they were taken over from: the
// three waiting go back to it (held copies again, their jobs out of the
// window's queue), and only the two running are told BUSY — the primary
// keeps back two originals, not five. Seen to fail first: nothing given
// back (the three are Active), five BUSY lines.
func TestGiveBackTakesWaitingCopiesOutOfTheWindow(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	p := newPlanned()
	p.stall["slow.test"] = true // the window (2) stays full
	q := NewManager(s, p, ManagerConfig{MaxActive: 64})
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { close(p.stop); cancel(); q.Wait() }()
	q.Start(runCtx)
	var copies []*Message
	for range 5 {
		c := receiptCopy(s, "x@slow.test")
		if stored, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-b", "127.0.0.2:25", "db1"); err != nil || !stored {
			t.Fatalf("copy on receipt: %v, %v", stored, err)
		}
		copies = append(copies, c)
	}
	for range 3 {
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", q.clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two taken-over copies running, three waiting for the window", func() bool {
		r, w := waitingOn(q, "mx/slow.test")
		return r == 2 && w == 3
	})
	n, err := q.ShadowPrimaryPresentedHere("hub-b", "db1")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d given back, want the 3 waiting for a slot", n)
	}
	shadow, active := 0, 0
	for _, c := range copies {
		got, err := q.Message(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch got.State {
		case Shadow:
			shadow++
			if got.Rcpts[0].Status != Shadowed || got.Rcpts[0].Primary != "hub-b" {
				t.Errorf("given back: %s at %q", got.Rcpts[0].Status, got.Rcpts[0].Primary)
			}
		case Active:
			active++
		}
	}
	if shadow != 3 || active != 2 {
		t.Errorf("%d held for hub-b again, %d in delivery; want 3 and 2", shadow, active)
	}
	if b := q.TakenBusyFor("db1", 10); len(b) != 2 {
		t.Errorf("told BUSY: %d, want the 2 in an attempt: %+v", len(b), b)
	}
	if r, w := waitingOn(q, "mx/slow.test"); r != 2 || w != 0 {
		t.Errorf("the window after the give-back: %d running, %d waiting; want 2 and 0", r, w)
	}
	// hub-b fails again: the three are taken over once more and wait
	// behind the two running. Its question alone (the session's give-back
	// came before they were claimed) gives them back and tells two BUSY.
	for range 3 {
		if _, _, err := q.ShadowHeartbeatFailed("hub-b", q.clk.Now(), 0, 3, "timeout"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three taken over again, waiting for the window", func() bool {
		r, w := waitingOn(q, "mx/slow.test")
		return r == 2 && w == 3
	})
	if b := q.TakenBusyFor("db1", 10); len(b) != 2 {
		t.Errorf("asked with three waiting: %d BUSY lines, want the 2 in an attempt: %+v", len(b), b)
	}
	shadow = 0
	for _, c := range copies {
		if got, _ := q.Message(c.ID); got != nil && got.State == Shadow {
			shadow++
		}
	}
	if r, w := waitingOn(q, "mx/slow.test"); shadow != 3 || r != 2 || w != 0 {
		t.Errorf("after the question: %d held for hub-b, %d running, %d waiting; want 3, 2, 0", shadow, r, w)
	}
	if c := p.count(p.calls, "slow.test"); c != 2 {
		t.Errorf("%d attempts at the next hop, want 2", c)
	}
}
