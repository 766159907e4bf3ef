package connfilter_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/connfilter"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/smtp"
)

// A DNS list asked while umbra stops (the server's context, which a
// session's checks run under, cancelled mid-lookup) did not fail to
// answer: umbra stopped asking. That is no WARN "DNS list not answered"
// blaming the list, and opens no episode — the list's own first failure
// after it is warned of at once, not taken for one already warned of.
func TestDNSBLStopIsNoUnansweredList(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.192:16053")
	dns.Drop("1.2.0.192.stopping.test") // asked as umbra stops: never answered
	dns.Fail("2.2.0.192.stopping.test") // the list's own failure: SERVFAIL
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 20 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	buf := &syncBuf{}
	opt := connfilter.Options{Resolver: res, Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Warnings: connfilter.NewLimiter(clk, time.Minute), Timeout: 20 * time.Second}
	cfg := config.DNSBL{Threshold: 1, Action: config.ActionReject, Lists: []config.DNSList{{Zone: "stopping.test", Kind: config.ListBlock, Weight: 1}}}
	d, err := connfilter.NewDNSBL("internet", cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	const warn = `level=WARN msg="DNS list not answered: counted as not listing" zone=stopping.test`

	// The server stops while the lookup waits on the list.
	srvCtx, stop := context.WithCancel(context.Background())
	done := make(chan smtp.Verdict, 1)
	go func() {
		done <- d.Connect(srvCtx, &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.1")})
	}()
	for i := 0; dns.Queries() == 0; i++ {
		if i == 1000 {
			t.Fatal("the list was never asked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the check went on after the server stopped")
	}
	if n := strings.Count(buf.String(), warn); n != 0 {
		t.Fatalf("umbra stopping warned of as the list not answering:\n%s", buf)
	}

	// The list's own failure, within the minute: warned of at once.
	d.Connect(context.Background(), &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.2")})
	if n := strings.Count(buf.String(), warn); n != 1 {
		t.Fatalf("the list's first failure after a stop: %d WARNs, want 1:\n%s", n, buf)
	}
}
