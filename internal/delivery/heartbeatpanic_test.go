package delivery

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/shadowstore"
)

// panickyHeartbeats is the real Deliverer as the shadow manager's
// Heartbeater, with a defect of umbra's own planted in the session: the
// save of the batch the primary answered panics (as the recorder's
// commit, or anything between XQUERYDISCARD and it, could).
type panickyHeartbeats struct{ d *Deliverer }

func (p panickyHeartbeats) Heartbeat(ctx context.Context, primary, addr string, save func(string, uint64, []string, bool) error) error {
	if panicControl {
		return p.d.Heartbeat(ctx, primary, addr, save)
	}
	return p.d.Heartbeat(ctx, primary, addr, func(string, uint64, []string, bool) error { panic("seam: a defect in the heartbeat") })
}

// onlyHeartbeats runs heartbeat sessions at once, in the step, and
// refuses the others.
type onlyHeartbeats struct{}

func (onlyHeartbeats) StartTask(ctx context.Context, dest, _ string, _ int, fn func(context.Context) error) bool {
	if !strings.HasPrefix(dest, shadow.HeartbeatDest) {
		return false
	}
	_ = fn(ctx)
	return true
}

// SPEC SR-7, Q-5: a heartbeat that panics in umbra's own code counts no
// failed heartbeat. It was recovered (recoverErr) into a plain error,
// which the shadow manager counted as a failed heartbeat — the primary
// unreachable: the primary here is alive, answers every heartbeat and
// still holds the message, and after the retry count this server took
// the copy over and would deliver it a second time. A store failure
// (SaveError) counts no failure for this very reason; a recovered panic
// is a shadow.LocalFault and counts none either. The control run
// (UMBRA_PANIC_CONTROL=1) has the same heartbeats without the seam.
func TestHeartbeatPanicTakesNoCopyOverFromALivePrimary(t *testing.T) {
	clk := clock.NewFake(time.Now())
	const body = "Subject: hi\r\n\r\nhi\r\n"
	ps, pq := openQueue(t, clk)
	heldOrg := orgid.New()
	pm := &queue.Message{ID: ps.NewID(clk.Now()), From: "a@example.org", OrgID: heldOrg, ShadowServer: "edge1", ShadowID: heldOrg,
		Rcpts: []queue.Recipient{{Addr: "b@example.test"}}}
	if err := pq.Submit(context.Background(), pm, []byte(body)); err != nil {
		t.Fatal(err)
	}
	addr := startTransportServer(t, "hub.test", "hub.test", "primary.yaml", pq, pq)

	ss, sq := openQueue(t, clk)
	cm := &queue.Message{ID: ss.NewID(clk.Now()), From: "a@example.org", OrgID: heldOrg, Rcpts: []queue.Recipient{{Addr: "b@example.test"}}}
	if stored, err := sq.SubmitShadowCopy(context.Background(), cm, []byte(body), "hub.test", addr, pq.DatabaseID()); err != nil || !stored {
		t.Fatalf("copy: %v %v", stored, err)
	}

	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	rec := shadow.NewRecorder(shadowstore.Store{M: &sq}, nil, nil)
	d.st.Load().cfg.ShadowServerID, d.st.Load().cfg.Shadows = "edge1", rec
	pc := &panicCount{}
	d.SetPanics(pc)
	const timeout = time.Minute
	m := shadow.New(shadow.Config{Timeout: timeout, Retries: 3, CommandTimeout: 10 * time.Second, Clock: clk,
		Store: shadowstore.Store{M: &sq}, Heartbeater: panickyHeartbeats{d}, Recorder: rec, Runner: onlyHeartbeats{}})
	for range 6 {
		clk.Advance(timeout + time.Second)
		m.Step(context.Background())
	}
	if !panicControl && pc.count(PanicShadow) == 0 {
		t.Fatal("no heartbeat ran into the seam")
	}
	got, err := sq.Message(cm.ID)
	if err != nil || got == nil {
		t.Fatalf("copy: %v %v", got, err)
	}
	if st := got.Rcpts[0].Status; st != queue.Shadowed {
		t.Fatalf("after %d heartbeats that panicked here while the primary answered each and still holds the message, the copy's recipient is %v, not shadowed: taken over from a live primary (a second delivery)", pc.count(PanicShadow), st)
	}
}

// panicControl: the same heartbeats without the seam (the control run,
// UMBRA_PANIC_CONTROL=1: the primary's answers are saved, the copy stays
// shadowed and the test passes).
var panicControl = os.Getenv("UMBRA_PANIC_CONTROL") != ""
