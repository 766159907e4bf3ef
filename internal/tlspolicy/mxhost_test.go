package tlspolicy

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A report's mx-host is the applied MTA-STS policy's mx patterns (RFC
// 8460 §4.4: "in the case where policy-type is sts"), not the hosts the
// sessions went to; a tlsa or no-policy-found policy has none. The
// failure details keep the real host (receiving-mx-hostname). rt18d F2.
func TestTLSReportMXHostIsThePolicysPatterns(t *testing.T) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	dns := dnstest.Start(t)
	res, _ := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	c := NewCounter(RPTConfig{Store: st, Resolver: res, Clock: clk})
	c.Policy("dest.test", PolicySTS, []string{"version: STSv1", "mode: enforce", "mx: *.mx.dest.test", "mx: mx1.dest.test", "max_age: 86400"})
	c.Result("dest.test", PolicySTS, "x.a.mx.dest.test", "")
	c.Result("dest.test", PolicySTS, "mx2.dest.test", "validation-failure") // a host the policy rejects
	c.Policy("dest.test", PolicyTLSA, []string{"3 1 1 00"})
	c.Result("dest.test", PolicyTLSA, "mx3.dest.test", "")
	c.Result("dest.test", PolicyNotFound, "mx4.dest.test", "")
	ctx := context.Background()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := c.Pending(ctx, "2026-11-30")
	if err != nil || len(ps) != 1 {
		t.Fatalf("pending %+v %v", ps, err)
	}
	for _, p := range ps[0].Report.Policies {
		switch p.Policy.PolicyType {
		case PolicySTS:
			if want := []string{"*.mx.dest.test", "mx1.dest.test"}; !slices.Equal(p.Policy.MXHost, want) {
				t.Errorf("sts mx-host %q, want the policy's patterns %q", p.Policy.MXHost, want)
			}
			if len(p.FailureDetails) != 1 || p.FailureDetails[0].ReceivingMX != "mx2.dest.test" {
				t.Errorf("sts failure details %+v, want the real host", p.FailureDetails)
			}
		default:
			if p.Policy.MXHost != nil {
				t.Errorf("%s mx-host %q, want none", p.Policy.PolicyType, p.Policy.MXHost)
			}
		}
	}
}
