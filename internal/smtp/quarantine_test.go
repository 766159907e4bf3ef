package smtp

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
)

func quarantineServer(t *testing.T, q Queue, extra string, r ReceiptShadow, checks ...Check) *Server {
	t.Helper()
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, "    max_acknowledgement_delay: 30s\n"+extra),
		Routing: testTable(), Queue: q, Shadow: sh, ShadowEnabled: true, Clock: clk,
		Checks: func(config.ReceiveConnector) ([]Check, error) { return checks, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		s.SetReceiptShadow(r)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s
}

// A message an edge check quarantines goes nowhere until released, so
// its sender is answered at once: no delayed acknowledgement (the fake
// clock never moves, and nothing will confirm it) and no copy on receipt.
func TestQuarantinedMessageNotDelayedNotCopied(t *testing.T) {
	ck := &scripted{data: Verdict{Quarantine: "dmarc fail"}}
	for _, tc := range []struct {
		name, extra string
		receipt     *fakeReceipt
	}{
		{"delayed acknowledgement", "", nil},
		{"shadow on receipt", "    shadow_on_receipt: local-only\n", &fakeReceipt{fail: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &blockingGoneQueue{}
			var r ReceiptShadow
			if tc.receipt != nil {
				r = tc.receipt
			}
			s := quarantineServer(t, q, tc.extra, r, ck)
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.example", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
			if strings.Contains(got, "shadow copy") || strings.Contains(got, "confirmed") {
				t.Fatalf("reply %q", got)
			}
			if q.count() != 1 || q.msgs[0].Quarantine != "dmarc fail" || q.msgs[0].ShadowServer != "" {
				t.Fatalf("queued %d: %+v", q.count(), q.msgs)
			}
			if tc.receipt != nil && tc.receipt.opened != 0 {
				t.Fatalf("a shadow copy of a quarantined message was attempted %d times", tc.receipt.opened)
			}
			// It wanted a copy and got none: the queue stores that, so
			// that its release marks it held by this server only.
			if q.msgs[0].NoCopy != (tc.receipt != nil) {
				t.Fatalf("NoCopy %v on a quarantined message (shadow on receipt: %v)", q.msgs[0].NoCopy, tc.receipt != nil)
			}
		})
	}
}
