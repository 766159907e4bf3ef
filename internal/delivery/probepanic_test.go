package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"umbra/internal/config"
)

// SPEC SR-6, Q-5: a probe of a holder (shadow.Holders asks them at a
// start and after a stall, each on a goroutine of its own) that panics
// — a defect of umbra's — is recovered, counted under part shadow and
// ends with an error that is this server's own fault (LocalFault: no
// verdict on the holder), never the daemon's end. Seen to fail first:
// the test binary died of the panic.
func TestPanicInAProbeIsRecovered(t *testing.T) {
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	pc := &panicCount{}
	d.SetPanics(pc)
	var fired atomic.Bool
	hook := func(part string) {
		if part == PanicShadow && fired.CompareAndSwap(false, true) {
			panic("injected panic of a probe")
		}
	}
	panicHook.Store(&hook)
	defer panicHook.Store(nil)
	_, err := NewReceiptShadow(d, "db-1").Probe(context.Background(), "hub-b")
	var lf interface{ LocalFault() }
	if err == nil || !errors.As(err, &lf) {
		t.Fatalf("probe that panicked: %v, want this server's own fault", err)
	}
	if n := pc.count(PanicShadow); n != 1 {
		t.Fatalf("%d panics counted under shadow, want 1", n)
	}
}
