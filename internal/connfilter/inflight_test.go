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

// EDGE-1, OPS-1: the sibling of TestDNSBLKeepListsForgetsRemovedListsOnly
// in time. The operator takes a list out because it fails; a connection
// accepted before the reload still asks it with the checks it was built
// with, and its lookup ends after the reload. That late failure must not
// bring the removed list's state back: the list added back within the
// minute is a new one, its first failure warned of at once. Against a
// real DNS server on loopback that never answers the list (each lookup
// ends at the check's timeout). Seen to fail first: the late failure
// opened a new episode of the removed list, and the first failure of
// the list added back went to DEBUG.
func TestDNSBLLateLookupOfRemovedListKeepsNoState(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.191:13503")
	dns.Drop("flaky.test") // never answered: each lookup ends at the check's timeout
	up, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) // the minute never passes
	buf := &syncBuf{}
	warnings := connfilter.NewLimiter(clk, time.Minute)
	opt := connfilter.Options{Resolver: resolver.NewCache(up, resolver.CacheConfig{}), Warnings: warnings,
		Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})), Timeout: 400 * time.Millisecond}
	rc := config.ReceiveConnector{Name: "internet"}
	rc.ConnectionFiltering.DNSBL = config.DNSBL{Threshold: 1, Action: config.ActionReject,
		Lists: []config.DNSList{{Zone: "flaky.test", Kind: config.ListBlock, Weight: 1}}}
	without := config.ReceiveConnector{Name: "internet"}
	without.ConnectionFiltering.HELO.Syntax = config.ActionReject // filtering on, no list
	check := func() *connfilter.DNSBL {
		d, err := connfilter.NewDNSBL(rc.Name, rc.ConnectionFiltering.DNSBL, opt)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	const warn = `level=WARN msg="DNS list not answered: counted as not listing" zone=flaky.test`
	connect := func(d *connfilter.DNSBL, ip string) {
		d.Connect(context.Background(), &smtp.ConnInfo{Connector: "internet", IP: netip.MustParseAddr(ip)})
	}

	old := check()
	connect(old, "192.0.2.1") // the list fails: its episode's WARN
	if n := strings.Count(buf.String(), warn); n != 1 {
		t.Fatalf("the list's first failure: %d WARNs, want 1\n%s", n, buf)
	}
	asked := dns.Queries()
	late := make(chan struct{})
	go func() { defer close(late); connect(old, "192.0.2.2") }() // a connection accepted before the reload
	for i := 0; dns.Queries() == asked; i++ {
		if i == 1000 {
			t.Fatal("the late lookup never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	warnings.KeepLists([]config.ReceiveConnector{without}) // the reload takes the list out
	<-late                                                 // its lookup ends after the reload
	warnings.KeepLists([]config.ReceiveConnector{rc})      // and the next puts it back, within the minute
	before := strings.Count(buf.String(), warn)
	connect(check(), "192.0.2.3")
	if n := strings.Count(buf.String(), warn); n != before+1 {
		t.Fatalf("the first failure of the list added back: %d new WARNs, want 1 (a new list's first failure)\n%s", n-before, buf)
	}
}
