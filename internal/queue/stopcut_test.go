package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// cutByStop is a next hop the server's stop cuts: the attempt waits
// until the stop and then reports what a cut connection reports.
type cutByStop struct{ started chan struct{} }

func (d cutByStop) Deliver(ctx context.Context, m *Message, b []byte, rcpts []int) []Result {
	d.started <- struct{}{}
	<-ctx.Done()
	var out []Result
	for _, i := range rcpts {
		out = append(out, Result{Rcpt: i, Outcome: Deferred, Queue: "mx:example.net", NextHop: "mx.example.net",
			Reply: "451 4.4.1 connect to mx.example.net: dial tcp 192.0.2.1:25: operation was canceled"})
	}
	return out
}

// An attempt the server's stop cuts is recorded as stopped by the
// shutdown — not as the next hop's failure (a connect "operation was
// canceled", a connection lost during DATA: umbra's own cut) — and
// costs no attempt and no retry step: due again at once.
func TestAttemptCutByStopIsNoNextHopFailure(t *testing.T) {
	s := openTest(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	d := cutByStop{started: make(chan struct{}, 1)}
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	q.Start(ctx)
	m := msg(s, "a@example.org", "x@example.net")
	m.Arrived = clk.Now()
	// Submitted under the server's context, as a receiving session does:
	// the attempt it starts runs under it, and the stop cancels it.
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	<-d.started
	cancel()
	q.Wait()
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := got.Rcpts[0].LastReply
	if !strings.Contains(r, "stopped by shutdown") || strings.Contains(r, "canceled") {
		t.Errorf("last reply %q, want the stop named, not a next-hop failure", r)
	}
	if strings.Contains(got.LastError, "canceled") {
		t.Errorf("last error %q names umbra's own cut as the next hop's failure", got.LastError)
	}
	if got.Attempts != 0 || got.NextAttempt.After(clk.Now()) {
		t.Errorf("attempts %d, due in %s: a cut attempt is no attempt and due at once", got.Attempts, got.NextAttempt.Sub(clk.Now()))
	}
}
