package msgauth

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/config"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/smtp"
)

// OPS-2, EDGE-1: the session's end is "cancelled" only for the methods
// it cut short (TestMessageAuthenticationCutBySessionEndCountedCancelled).
// A method that had already ended in a temperror before — its DNS server
// answered SERVFAIL — is DNS failing and stays counted temperror, even
// when a later method of the same message is then cut by the client
// leaving. Against a real DNS server on loopback: the sender's domain
// fails (SERVFAIL), the HELO name's is never answered, and the client
// leaves while the HELO's SPF waits. Seen to fail first: the SPF
// check's SERVFAIL counted cancelled, read as no DNS failure at all.
func TestMessageAuthenticationCutCountsOnlyTheMethodsItCut(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.191:13501")
	dns.Fail("servfail.test") // the sender's domain: SERVFAIL at once
	dns.Drop("hang.test")     // the HELO name: never answered
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	cfg := config.MessageAuthentication{Profile: "internet", AuthservID: "mx.example.test", SPF: "reject", HeloSPF: "reject",
		DKIM: "off", ARC: "off", DMARC: "off", MaxSignatures: 5, Timeout: config.Duration(time.Hour)}
	c := New(cfg, res, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	tx := &smtp.Transaction{From: "a@servfail.test", Content: []byte(message("a@servfail.test", "cut"))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Data(ctx, &smtp.ConnInfo{IP: netip.MustParseAddr("192.0.2.9"), Helo: "mail.hang.test"}, tx)
	}()
	for i := 0; dns.Queries() < 2; i++ { // the sender's SPF asked and failed, the HELO's asked
		if i == 3000 {
			t.Fatalf("the HELO name's SPF never asked DNS (%d queries)", dns.Queries())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel() // the client leaves while the HELO's SPF waits on DNS
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the check ran on after the session ended")
	}
	if n := testutil.ToFloat64(m.results.WithLabelValues("helo_spf", "cancelled")); n != 1 {
		t.Fatalf("the HELO SPF check the session's end cut: cancelled %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.results.WithLabelValues("spf", "temperror")); n != 1 {
		t.Fatalf("the SPF check whose DNS answered SERVFAIL before the session ended: temperror %v (cancelled %v), want 1",
			n, testutil.ToFloat64(m.results.WithLabelValues("spf", "cancelled")))
	}
}
