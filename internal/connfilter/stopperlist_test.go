package connfilter_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/connfilter"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/smtp"
)

// OPS-2, EDGE-1: umbra's stop is "cancelled" only for the lookups it cut
// short (TestDNSBLStopCountedCancelledNotError). A list that had already
// failed before — its DNS answered SERVFAIL — failed on its own: counted
// result="error" and warned of, even when another list of the same
// connection is then cut by the stop. Against a real DNS server on
// loopback: one list fails at once, the other is never answered, and
// umbra stops (the server's context ends) while the second waits. Seen
// to fail first: the SERVFAIL counted cancelled, no WARN.
func TestDNSBLStopCancelsOnlyTheLookupsItCut(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.191:13502")
	dns.Fail("servfail.test") // fails at once, on its own
	dns.Drop("hang.test")     // never answered
	up, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuf{}
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opt := connfilter.Options{Resolver: resolver.NewCache(up, resolver.CacheConfig{}), Metrics: connfilter.NewMetrics(reg),
		Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})), Timeout: time.Hour,
		Warnings: connfilter.NewLimiter(clk, time.Minute)}
	cfg := config.DNSBL{Threshold: 1, Action: config.ActionReject, Lists: []config.DNSList{
		{Zone: "servfail.test", Kind: config.ListBlock, Weight: 1}, {Zone: "hang.test", Kind: config.ListBlock, Weight: 1}}}
	d, err := connfilter.NewDNSBL("internet", cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	server, stop := context.WithCancel(context.Background()) // the server's: ended by umbra's stop
	defer stop()
	done := make(chan smtp.Verdict, 1)
	go func() {
		done <- d.Connect(server, &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr("192.0.2.1")})
	}()
	for i := 0; dns.Queries() < 2; i++ {
		if i == 3000 {
			t.Fatalf("the lists were not both asked (%d queries)", dns.Queries())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the SERVFAIL read
	stop()                            // umbra stops while hang.test waits
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the lookups ran on after umbra stopped")
	}
	labels := func(zone, result string) map[string]string { return map[string]string{"zone": zone, "result": result} }
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("hang.test", "cancelled")); n != 1 {
		t.Fatalf("the lookup the stop cut: cancelled %v, want 1", n)
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", labels("servfail.test", "error")); n != 1 {
		t.Fatalf("the list that failed on its own before the stop: error %v (cancelled %v), want 1", n,
			counter(t, reg, "umbra_dnsbl_lookups_total", labels("servfail.test", "cancelled")))
	}
	if !strings.Contains(buf.String(), `level=WARN msg="DNS list not answered: counted as not listing" zone=servfail.test`) {
		t.Fatalf("the list's own failure before the stop not warned of:\n%s", buf)
	}
}
