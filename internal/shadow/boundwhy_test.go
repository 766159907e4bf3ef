package shadow

import (
	"context"
	"testing"
	"time"
)

// stepHB hangs every heartbeat in step until its bound cuts it off, and
// returns what a Heartbeater returns then: the step in flight.
type stepHB struct{ step string }

type stepCut struct {
	step string
	err  error
}

func (e *stepCut) Error() string         { return e.step + ": use of closed network connection" }
func (e *stepCut) Unwrap() error         { return e.err }
func (e *stepCut) HeartbeatStep() string { return e.step }

func (h stepHB) Heartbeat(ctx context.Context, _, _ string, _ Save) error {
	<-ctx.Done()
	if h.step == "" {
		return ctx.Err()
	}
	return &stepCut{h.step, ctx.Err()}
}

// OPS, SR-6 (shadowout48 F3 of an outside check): a hung primary's
// failed heartbeats — and the takeover they make — say which step of the
// heartbeat was not answered and within how long, in umbra's words, not
// Go's bare "context deadline exceeded" (shadow list said "taken over: 2
// heartbeats failed, the last: context deadline exceeded").
func TestHungHeartbeatSaysItsStepAndBound(t *testing.T) {
	for _, tc := range []struct{ step, want string }{
		{"XQUERYDISCARD", "XQUERYDISCARD not answered within 1m0s (the heartbeat's bound, transport.command_timeout)"},
		{"", "heartbeat not done within 1m0s (the heartbeat's bound, transport.command_timeout)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			m, st, _, clk := setup()
			m.cfg.Heartbeater = stepHB{tc.step}
			// Heartbeats start at 300 s and give up at 360 s.
			for i := 0; i < 361; i++ {
				clk.Advance(time.Second)
				m.Step(context.Background())
				waitFlight(t, m, clk)
			}
			ps := m.Status()
			if len(ps) != 1 {
				t.Fatalf("status %+v", ps)
			}
			if ps[0].Unreachable != tc.want {
				t.Errorf("unreachable %q, want %q", ps[0].Unreachable, tc.want)
			}
			st.mu.Lock()
			failures := st.ps["hub-b"].Failures
			st.mu.Unlock()
			if failures != 1 {
				t.Fatalf("%d failures after one hung heartbeat", failures)
			}
		})
	}
}

// waitFlight waits until no heartbeat whose bound has passed is still in
// flight: the session returned and its failure was recorded.
func waitFlight(t *testing.T, m *Manager, clk interface{ Now() time.Time }) {
	t.Helper()
	for i := 0; i < 5000; i++ {
		m.mu.Lock()
		expired := false
		for _, deadline := range m.flight {
			expired = expired || !deadline.After(clk.Now())
		}
		m.mu.Unlock()
		if !expired {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("a heartbeat past its bound did not end")
}
