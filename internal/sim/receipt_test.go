package sim

import (
	"testing"
	"testing/synctest"
	"time"
)

// receiverDiesAfter250 (SR-17): b1 cannot reach its next hop (mbx-b is
// cut off) and takes mail from outside clients; right after the last 250
// it loses its disk for good (it comes back a minute later with a new,
// empty transport database). Every client waits for its reply.
func receiverDiesAfter250(receipt string) Scenario {
	return Scenario{Name: "sr17-receiver-dies-after-250-" + receipt, Seed: 117, ShadowOnReceipt: receipt,
		Traffic: burst("b1", sec(1), 6, true, "u1@b.test"),
		Faults: []Fault{{Kind: "partition", Target: "b1|mbx-b", At: 0, For: sec(150)},
			{Kind: "disk-loss", Target: "b1", At: sec(8), For: sec(60)}}}
}

// With shadow on receipt (prefer-remote: a copy on a hub of site a before
// each 250) nothing is lost — site a takes the copies over when b1 is
// gone — and no client waited for the next hop: every 250 came well
// before max_acknowledgement_delay (5 s), which does not apply.
func TestSimShadowOnReceiptReceiverDies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out, err := Run(t.TempDir(), receiverDiesAfter250("prefer-remote"), simLog())
		if err != nil {
			t.Fatal(err)
		}
		if out.Acked != 6 {
			t.Fatalf("acked %d of 6", out.Acked)
		}
		if out.Failed() {
			t.Errorf("%v", out.Problems)
		}
		if out.MaxAckWait >= 5*time.Second {
			t.Errorf("a client waited %v for its 250: the next hop's wait (delayed acknowledgement) applied", out.MaxAckWait)
		}
		t.Logf("acked %d delivered %d lost %d; longest wait for a 250 %v", out.Acked, out.Delivered, out.Lost, out.MaxAckWait)
	})
}

// The control: the same scenario without shadow on receipt (delayed
// acknowledgement only) makes every client wait the full 5 s and loses
// what b1 held — so the scenario above tests something.
func TestSimShadowOnReceiptControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out, err := Run(t.TempDir(), receiverDiesAfter250("off"), simLog())
		if err != nil {
			t.Fatal(err)
		}
		if out.Acked == 0 || out.Lost == 0 || out.MaxAckWait < 5*time.Second {
			t.Fatalf("control: acked %d lost %d longest wait %v; want losses and 5 s waits", out.Acked, out.Lost, out.MaxAckWait)
		}
		t.Logf("control: acked %d lost %d; longest wait for a 250 %v", out.Acked, out.Lost, out.MaxAckWait)
	})
}
