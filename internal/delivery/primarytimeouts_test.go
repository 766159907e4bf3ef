package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
)

// SR-17, W-7 (shadow29 item 4): a session with a primary opened without
// a send connector (watch, reconciliation, heartbeat, a copy on receipt
// pushed to a shadow server) has the configured timeouts, as one
// through a connector: the reply to a pushed copy's body is awaited for
// data_timeout, not go-smtp's default of 12 minutes.
func TestSR17PrimarySessionWithoutConnectorHasConfiguredTimeouts(t *testing.T) {
	p := newForgettingPrimary(0)
	addr := startForgettingPrimary(t, p)
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	st := d.st.Load()
	st.cfg.ShadowServerID = "edge1"
	st.cfg.CommandTimeout, st.cfg.DataTimeout = 7*time.Second, 11*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.dialPrimary(ctx, st, "hub.test", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.CommandTimeout != 7*time.Second || c.SubmissionTimeout != 11*time.Second {
		t.Fatalf("session to a primary without a connector: command timeout %v, data timeout %v; want the configured 7s, 11s",
			c.CommandTimeout, c.SubmissionTimeout)
	}
}
