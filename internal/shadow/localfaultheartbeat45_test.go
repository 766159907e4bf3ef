package shadow

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// sourceFaultErr is a session that never connected because this server
// cannot bind its source address (delivery's sourceFault).
type sourceFaultErr struct{}

func (sourceFaultErr) Error() string {
	return "this server's server.source_address 192.0.2.1 cannot be bound on this host: no connection was made; give the host that address again, or set server.source_address to one of its addresses and restart umbra (a reload keeps the running server section)"
}
func (sourceFaultErr) LocalFault() {}

// SR-6, OPS- (rt45 redirect, the local-failure rule): heartbeats that
// fail here before any connection, far past the retry count, are no
// failed heartbeats of the primary: nothing is taken over, none counts
// in the failed heartbeats' metric, the primary is not shown
// unreachable, and the fault is logged at ERROR — this server's to fix,
// naming what —, paced (once a minute per primary). A local failure
// counted toward a takeover took a live primary's copies over and
// delivered them a second time.
func TestSR6LocalFaultHeartbeatsTakeNothingOverAndLogError(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &fakeStore{clk: clk, discarded: map[string][]string{}, copies: map[string]bool{"hub-b": true},
		ps: map[string]*Primary{"hub-b": {Name: "hub-b", Addr: "127.0.0.180:14001", DatabaseID: "db1", LastContact: clk.Now()}}}
	hb := &fakeHB{db: "db1", calls: map[string]int{}, hang: map[string]bool{}, err: sourceFaultErr{}}
	obs := &countingObserver{refused: map[string]int{}}
	buf := &syncBuf{}
	const timeout = 5 * time.Second
	m := New(Config{Timeout: timeout, Retries: 3, Clock: clk, Store: st, Heartbeater: hb, Runner: &syncRunner{}, Observer: obs,
		Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	for range 8 { // 48 s: within one minute
		clk.Advance(timeout + time.Second)
		m.Step(context.Background())
	}
	if hb.n("hub-b") < 3 {
		t.Fatalf("%d heartbeats run, want the retry count and more", hb.n("hub-b"))
	}
	if tk := st.taken(); len(tk) != 0 {
		t.Errorf("copies taken over for heartbeats that failed here: %v", tk)
	}
	if st.ps["hub-b"].Failures != 0 {
		t.Errorf("%d failed heartbeats recorded for a failure of this server's", st.ps["hub-b"].Failures)
	}
	obs.mu.Lock()
	failed := obs.failed
	obs.mu.Unlock()
	if failed != 0 {
		t.Errorf("%d failed heartbeats counted in the metric for a failure of this server's", failed)
	}
	for _, s := range m.Status() {
		if s.Unreachable != "" {
			t.Errorf("primary %s shown unreachable (%q) for a failure of this server's", s.Name, s.Unreachable)
		}
	}
	buf.mu.Lock()
	log := buf.b.String()
	buf.mu.Unlock()
	if n := strings.Count(log, "level=ERROR msg=\"heartbeat ended by a fault of this server's"); n != 1 {
		t.Errorf("%d ERROR lines for the fault over %d heartbeats within a minute, want 1:\n%s", n, hb.n("hub-b"), log)
	}
	if !strings.Contains(log, "set server.source_address to one of its addresses") {
		t.Errorf("the ERROR line does not say what to fix:\n%s", log)
	}
	if strings.Contains(log, "heartbeat failed") {
		t.Errorf("a failure of this server's logged as a failed heartbeat of the primary:\n%s", log)
	}
}
