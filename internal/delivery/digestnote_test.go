package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// digestRecorder records what completed heartbeats proved of a primary
// (DigestNoter) and says hub-b is of an earlier release.
type digestRecorder struct {
	shadowRecorder
	mu      sync.Mutex
	noted   []string
	earlier bool
}

func (r *digestRecorder) SessionDigest(primary, dbID, digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noted = append(r.noted, primary+" "+dbID+" "+digest)
}

func (r *digestRecorder) EarlierRelease(string) bool { return r.earlier }

// SR-6 (shadow30 item 3): a completed heartbeat, over loopback to a
// primary that advertises no database digest (an earlier release) and
// to one that does, hands the shadow recorder the id its XSHADOW reply
// carried and the digest its EHLO advertised, none for the first. A
// refusal without a digest from a primary the recorder holds of an
// earlier release leaves its destination responsive (not tried last),
// as a refusal presenting its digest does.
func TestSR6HeartbeatNotesWhetherPrimaryAdvertisesDigest(t *testing.T) {
	for _, c := range []struct {
		name, digest string
	}{{"earlier release", ""}, {"current", queue.DatabaseDigest("db1")}} {
		t.Run(c.name, func(t *testing.T) {
			ehlo := []string{"XSHADOW 6"}
			if c.digest != "" {
				ehlo = append(ehlo, "XSHADOWDB "+c.digest)
			}
			addr := testsupport.StartHub(t, "127.0.0.134:0", testsupport.HubScript{EHLO: ehlo, XShadow: "250 db1"}).Addr()
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
			rec := &digestRecorder{}
			d.st.Load().cfg.ShadowServerID, d.st.Load().cfg.Shadows = "edge1", rec
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.Heartbeat(ctx, "hub-b", addr, func(string, uint64, []string, bool) error { return nil }); err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.noted) != 1 || rec.noted[0] != "hub-b db1 "+c.digest {
				t.Fatalf("noted %q, want one: hub-b, db1, digest %q", rec.noted, c.digest)
			}
		})
	}
	t.Run("refused, earlier release", func(t *testing.T) {
		addr := testsupport.StartHub(t, "127.0.0.134:0", testsupport.HubScript{EHLO: []string{"8BITMIME"}, XShadow: "502 5.5.1 XSHADOW not available"}).Addr()
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
		rec := &digestRecorder{earlier: true}
		d.st.Load().cfg.ShadowServerID, d.st.Load().cfg.Shadows = "edge1", rec
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Heartbeat(ctx, "hub-b", addr, func(string, uint64, []string, bool) error { return nil }); err == nil {
			t.Fatal("heartbeat refused: no error")
		}
		if d.health.Unhealthy("hub-b", addr) {
			t.Error("a primary of an earlier release refusing the heartbeat is marked unresponsive: tried last, as a dead one")
		}
	})
}
