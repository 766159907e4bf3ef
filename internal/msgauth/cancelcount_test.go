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

// OPS-2, EDGE-1: a check the session's end cut short (the client closed
// the connection during the end-of-data checks, or umbra stopped: the
// check context cancelled) has no DNS failure to count: its methods cut
// mid-lookup are counted umbra_msgauth_results_total result="cancelled",
// never "temperror", which reads as DNS failing. The check's own time
// limit (message_authentication.timeout) running out is still
// temperror: DNS did not answer in the time allowed. Against a real DNS
// server on loopback that never answers. Seen to fail first: the cut
// check counted spf temperror.
func TestMessageAuthenticationCutBySessionEndCountedCancelled(t *testing.T) {
	silent := dnstest.StartOn(t, "127.0.0.175:10159")
	silent.Drop(".")
	res, err := resolver.New(resolver.Config{Servers: []string{silent.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	cfg := config.MessageAuthentication{Profile: "internet", AuthservID: "mx.example.test", SPF: "reject", HeloSPF: "off",
		DKIM: "off", ARC: "off", DMARC: "off", MaxSignatures: 5, Timeout: config.Duration(time.Hour)}
	c := New(cfg, res, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	tx := &smtp.Transaction{From: "a@hang.test", Content: []byte(message("a@hang.test", "hang"))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Data(ctx, &smtp.ConnInfo{IP: netip.MustParseAddr("192.0.2.9"), Helo: "mail.hang.test"}, tx)
	}()
	for i := 0; silent.Queries() == 0; i++ {
		if i == 3000 {
			t.Fatal("SPF never asked DNS")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // the session ends while SPF waits on DNS
	select {
	case <-done:
	case <-time.After(time.Minute): // a bound on a hang: the check's own limit is an hour
		t.Fatal("the check ran on after the session ended")
	}
	if n := testutil.ToFloat64(m.results.WithLabelValues("spf", "temperror")); n != 0 {
		t.Fatalf("the SPF check the session's end cut counted temperror (%v): blamed on DNS", n)
	}
	if n := testutil.ToFloat64(m.results.WithLabelValues("spf", "cancelled")); n != 1 {
		t.Fatalf("the SPF check the session's end cut: cancelled %v, want 1", n)
	}
}
