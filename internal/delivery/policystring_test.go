package delivery

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/tlspolicy"
)

// rt17d-F4 (TLS-1, RFC 8460 §4.4): a TLS report's policy object carries
// policy-string: for sts the lines of the MTA-STS policy the sessions
// were checked against, for tlsa the TLSA records.
func TestTLSReportPolicyString(t *testing.T) {
	pending := func(w *tlsWorld, c *tlspolicy.Counter, domain string) tlspolicy.ReportPolicy {
		t.Helper()
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		ps, err := c.Pending(context.Background(), w.clk.Now().UTC().Format(time.DateOnly))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Domain == domain && len(p.Report.Policies) == 1 {
				return p.Report.Policies[0]
			}
		}
		t.Fatalf("no report with one policy for %s: %+v", domain, ps)
		return tlspolicy.ReportPolicy{}
	}
	t.Run("sts", func(t *testing.T) {
		w := stsWorld(t, "enforce")
		c := tlspolicy.NewCounter(tlspolicy.RPTConfig{Store: w.store, Resolver: w.res, Clock: w.clk})
		w.reporter = c
		w.build(t, config.TLSOpportunistic, true, true)
		cert := w.ca.issue(t, "mx1.sts.test")
		startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
		if r := w.deliver(message("a@sts.test")); r.Outcome != queue.RelayedOK {
			t.Fatalf("%+v", r)
		}
		p := pending(w, c, "sts.test")
		want := []string{"version: STSv1", "mode: enforce", "mx: mx1.sts.test", "mx: *.backup.sts.test", "max_age: 86400"}
		if p.Policy.PolicyType != "sts" || !slices.Equal(p.Policy.PolicyString, want) {
			t.Fatalf("policy %+v, want policy-string %q", p.Policy, want)
		}
	})
	t.Run("tlsa", func(t *testing.T) {
		other := newTestCA(t)
		cert := other.issue(t, "mx.dane.test")
		rec := "3 1 1 " + spkiSHA256(cert)
		w, _ := daneWorld(t, rec)
		c := tlspolicy.NewCounter(tlspolicy.RPTConfig{Store: w.store, Resolver: w.res, Clock: w.clk})
		w.reporter = c
		w.build(t, config.TLSOpportunistic, true, true)
		startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
		if r := w.deliver(message("a@dane.test")); r.Outcome != queue.RelayedOK {
			t.Fatalf("%+v", r)
		}
		p := pending(w, c, "dane.test")
		if p.Policy.PolicyType != "tlsa" || !slices.Equal(p.Policy.PolicyString, []string{rec}) {
			t.Fatalf("policy %+v, want policy-string [%q]", p.Policy, rec)
		}
	})
}
