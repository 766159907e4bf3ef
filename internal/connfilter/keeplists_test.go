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

// EDGE-1, OPS-1: Limiter.KeepLists, which a reload calls with the
// connectors in force, forgets the state of the lists none of them asks
// — the paced WARN of a misconfigured list as well as the episode of an
// unanswered one — and keeps that of a list another connector still
// asks. Seen to fail first for the misconfiguration WARN: a list that
// answered an error code, removed and added back within the minute, was
// not warned of again (its pace kept under its zone).
func TestDNSBLKeepListsForgetsRemovedListsOnly(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.175:10156",
		"1.2.0.192.odd.test. 300 IN A 127.255.255.254") // an error code: misconfigured
	dns.Fail("flaky.test")
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	buf := &syncBuf{}
	warnings := connfilter.NewLimiter(clk, time.Minute)
	opt := connfilter.Options{Resolver: res, Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Warnings: warnings}
	lists := func(zones ...string) config.ReceiveConnector {
		rc := config.ReceiveConnector{Name: "internet"}
		rc.ConnectionFiltering.DNSBL = config.DNSBL{Threshold: 1, Action: config.ActionReject}
		for _, z := range zones {
			rc.ConnectionFiltering.DNSBL.Lists = append(rc.ConnectionFiltering.DNSBL.Lists, config.DNSList{Zone: z, Kind: config.ListBlock, Weight: 1})
		}
		return rc
	}
	ask := func(rc config.ReceiveConnector) {
		t.Helper()
		d, err := connfilter.NewDNSBL(rc.Name, rc.ConnectionFiltering.DNSBL, opt)
		if err != nil {
			t.Fatal(err)
		}
		d.Connect(context.Background(), &smtp.ConnInfo{Connector: rc.Name, IP: netip.MustParseAddr("192.0.2.1")})
	}
	count := func(s string) int { return strings.Count(buf.String(), s) }
	const odd = `level=WARN msg="DNS list misconfigured: its answer is ignored" zone=odd.test`
	const flaky = `level=WARN msg="DNS list not answered: counted as not listing" zone=flaky.test`

	both := lists("odd.test", "flaky.test")
	ask(both)
	if count(odd) != 1 || count(flaky) != 1 {
		t.Fatalf("first lookups: want one WARN of each list:\n%s", buf)
	}
	// A reload keeps flaky.test on another connector and removes odd.test.
	other := lists("flaky.test")
	other.Name = "other"
	warnings.KeepLists([]config.ReceiveConnector{lists(), other})
	warnings.KeepLists([]config.ReceiveConnector{both}) // both added back by the next reload,
	ask(both)                                           // within the minute
	if n := count(odd); n != 2 {
		t.Fatalf("a misconfigured list removed and added back: %d WARNs, want 2 (warned of at once, as a new list)\n%s", n, buf)
	}
	if n := count(flaky); n != 1 {
		t.Fatalf("a list another connector kept: %d WARNs, want 1 (its episode goes on)\n%s", n, buf)
	}
}
