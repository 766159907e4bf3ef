package shadow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// causeHB is a fakeHB that records why each heartbeat's context ended
// (context.Cause), as the deliverer reads it.
type causeHB struct {
	*fakeHB
	mu     sync.Mutex
	causes []error
}

func (h *causeHB) Heartbeat(ctx context.Context, p, addr string, save Save) error {
	err := h.fakeHB.Heartbeat(ctx, p, addr, save)
	h.mu.Lock()
	h.causes = append(h.causes, context.Cause(ctx))
	h.mu.Unlock()
	return err
}

func (h *causeHB) last() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.causes) == 0 {
		return nil
	}
	return h.causes[len(h.causes)-1]
}

// SR-16, SR-5 (rcpt47 item 3): the Heartbeater marks a primary
// unresponsive in destination health for a heartbeat its bound cut off
// (the primary silent), and not for one this server's stop cut (no
// evidence about the primary). The manager ends the bound's with
// ErrHeartbeatBound, a context.DeadlineExceeded, so the two are told
// apart; both were a plain cancel, and a shutdown marked every primary
// whose heartbeat was under way.
func TestSR16HeartbeatBoundToldFromOwnStop(t *testing.T) {
	t.Run("bound", func(t *testing.T) {
		m, _, hb, clk := setup()
		c := &causeHB{fakeHB: hb}
		m.cfg.Heartbeater = c
		hb.hang["hub-b"] = true
		step(t, m, hb, clk, 361*time.Second) // started at 300 s, cut off at 360 s (command timeout 60 s)
		if cause := c.last(); !errors.Is(cause, ErrHeartbeatBound) || !errors.Is(cause, context.DeadlineExceeded) {
			t.Errorf("a heartbeat its bound cut off ended with cause %v; want ErrHeartbeatBound, a deadline", cause)
		}
	})
	t.Run("own stop", func(t *testing.T) {
		m, _, hb, clk := setup()
		c := &causeHB{fakeHB: hb}
		m.cfg.Heartbeater = c
		hb.hang["hub-b"] = true
		clk.Advance(300 * time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		m.Step(ctx)
		settle(t, m, hb, clk)
		cancel()
		m.Wait()
		if cause := c.last(); cause == nil || errors.Is(cause, context.DeadlineExceeded) {
			t.Errorf("a heartbeat this server's stop cut ended with cause %v; want a cancel, no deadline", cause)
		}
	})
}
