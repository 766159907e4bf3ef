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

// A DNS list that cannot be asked (SERVFAIL, a timeout) counts as not
// listing, and an operator at INFO is told: a WARN at the first failure
// of an episode, then at most one a minute with suppressed=N, and
// "DNS list answers again" with the episode's count once the list has
// answered a minute past its last failure — the rule of umbra's other
// per-resource warnings (a full disk's), on the server's one Limiter,
// so a reload does not reset it. Before, the failure was at DEBUG only,
// seen in umbra_dnsbl_lookups_total{result="error"} and nowhere else.
func TestDNSBLUnansweredListWarnedPerEpisode(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.175:14053")
	dns.Fail("1.2.0.192.flaky.test") // 192.0.2.1 is asked and SERVFAILs; 192.0.2.2 is answered (not listed)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	buf := &syncBuf{}
	opt := connfilter.Options{Resolver: res, Log: slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Warnings: connfilter.NewLimiter(clk, time.Minute)}
	cfg := config.DNSBL{Threshold: 1, Action: config.ActionReject, Lists: []config.DNSList{{Zone: "flaky.test", Kind: config.ListBlock, Weight: 1}}}
	build := func() *connfilter.DNSBL { // a reload builds the check again
		d, err := connfilter.NewDNSBL("internet", cfg, opt)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := build()
	failing, answered := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	ask := func(ip netip.Addr) {
		t.Helper()
		if v := d.Connect(context.Background(), &smtp.ConnInfo{Connector: "internet", IP: ip}); v.Reply != nil {
			t.Fatalf("%v refused: %v", ip, v.Reply)
		}
	}
	lines := func(what string) int { return strings.Count(buf.String(), what) }
	const warn = `level=WARN msg="DNS list not answered: counted as not listing" zone=flaky.test`
	const again = `level=INFO msg="DNS list answers again" zone=flaky.test`

	ask(failing)
	if lines(warn) != 1 {
		t.Fatalf("the first failure of an episode not warned of at once:\n%s", buf)
	}
	ask(failing)
	d = build()
	ask(failing)
	if lines(warn) != 1 {
		t.Fatalf("failures within the minute warned of again (a reload included):\n%s", buf)
	}
	clk.Advance(61 * time.Second)
	ask(failing)
	if lines(warn) != 2 || !strings.Contains(buf.String(), "suppressed=2") {
		t.Fatalf("a minute on, no WARN carrying the 2 failures not warned of:\n%s", buf)
	}
	ask(answered) // answered, but its last failure is not a minute old: the episode goes on
	if lines(again) != 0 {
		t.Fatalf("the episode ended by an answer right after a failure:\n%s", buf)
	}
	clk.Advance(61 * time.Second)
	ask(answered)
	if lines(again) != 1 || !strings.Contains(buf.String(), "not_answered=4") {
		t.Fatalf("the list's recovery not logged with the episode's 4 failures:\n%s", buf)
	}
	ask(answered)
	ask(failing) // a new episode: warned of at once
	if lines(again) != 1 || lines(warn) != 3 {
		t.Fatalf("after the recovery, a new episode's first failure not warned of at once:\n%s", buf)
	}
}
