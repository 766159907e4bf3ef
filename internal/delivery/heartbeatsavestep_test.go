package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/shadow"
)

// SR-6, OPS (holders49 item 3): a heartbeat whose bound runs out while
// this server saves a batch of discard notifications the primary sent
// (its own store, slow) blamed the primary's XQUERYDISCARD — the step
// read once the session returned, the next query, which the cut
// connection failed. The step that ran out is named: the save here. It
// is this server's fault (shadow.LocalFault): the primary answered every
// command, so no failed heartbeat is counted against it.
func TestHeartbeatBoundOutInTheSaveNamesTheSave(t *testing.T) {
	p := newForgettingPrimary(1500) // two batches of XQUERYDISCARD 1000
	addr := startForgettingPrimary(t, p)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	d.st.Load().cfg.ShadowServerID = "edge1"
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	batches := 0
	err := d.Heartbeat(ctx, "hub.test", addr, func(_ string, _ uint64, ids []string, _ bool) error {
		batches++
		if batches == 1 {
			// The bound runs out while the first batch is saved.
			cancel(shadow.ErrHeartbeatBound)
			<-ctx.Done()
		}
		return nil
	})
	if err == nil {
		t.Fatal("a heartbeat cut by its bound mid-way succeeded")
	}
	var hs shadow.HeartbeatStepper
	if !errors.As(err, &hs) {
		t.Fatalf("the cut heartbeat names no step: %v", err)
	}
	if step := hs.HeartbeatStep(); strings.Contains(step, "XQUERYDISCARD") || !strings.Contains(step, "saving") {
		t.Errorf("step %q: the bound ran out in this server's save, not in the primary's reply (err %v)", step, err)
	}
	var lf shadow.LocalFault
	if !errors.As(err, &lf) {
		t.Errorf("a bound run out in this server's own save is not its fault: %v", err)
	}
}
