package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/shadow"
	"umbra/internal/testsupport"
)

// OPS, SR-6 (shadowout48 F3 of an outside check): a heartbeat its bound
// cut off names the step the primary did not answer (shadow.
// HeartbeatStepper), so that the failure and the takeover it makes say
// it: a hung primary's takeover said only "context deadline exceeded".
func TestHeartbeatCutByItsBoundNamesTheStep(t *testing.T) {
	hung := testsupport.Silent(t, "127.0.0.1:0") // accepts, never greets
	sc := config.SendConnector{Name: "to-hubs", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{hung.Addr()}, TLS: config.TLSNone}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	d.st.Load().cfg.CommandTimeout = time.Minute
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		for hung.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel(shadow.ErrHeartbeatBound)
	}()
	_, _, err := heartbeatIDs(d, ctx, "hub-a", hung.Addr())
	if err == nil {
		t.Fatal("a heartbeat to a hung primary succeeded")
	}
	var hs shadow.HeartbeatStepper
	if !errors.As(err, &hs) || hs.HeartbeatStep() != "connection, greeting and login" {
		t.Fatalf("the cut heartbeat names no step: %v", err)
	}
	if strings.Contains(err.Error(), "context deadline exceeded") || !strings.Contains(err.Error(), "connection, greeting and login") {
		t.Errorf("error %q", err)
	}
}
