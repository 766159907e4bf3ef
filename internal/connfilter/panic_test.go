package connfilter_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/config"
	"umbra/internal/connfilter"
	"umbra/internal/resolver"
	"umbra/internal/smtp"
)

// panicResolver panics on every lookup of a DNS list (a defect in the
// reading of a list's answer, say).
type panicResolver struct{ resolver.Resolver }

func (panicResolver) Lookup(context.Context, string, uint16) (*resolver.Answer, error) {
	panic("injected panic in a DNS list lookup")
}

func (panicResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return nil, nil }

// SPEC EDGE-1, OPS-2: a panic in a DNS list's lookup, on the goroutine
// the check starts per list (no lock held there), is recovered: the list
// counts as not listing (umbra_dnsbl_lookups_total result panicked), the
// panic is counted (umbra_dnsbl_panics_total), and the connection goes
// on unrefused. Seen to fail first: the test binary died of the panic —
// in the daemon, every session with it.
func TestDNSBLLookupPanicRecovered(t *testing.T) {
	c, err := config.Parse([]byte(`server: {name: mx.test}
receive_connectors:
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    connection_filtering:
      dnsbl:
        lists:
          - zone: bl.test
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rc := c.ReceiveConnectors[0]
	d, err := connfilter.NewDNSBL(rc.Name, rc.ConnectionFiltering.DNSBL, connfilter.Options{Resolver: panicResolver{},
		Metrics: connfilter.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	v := d.Connect(context.Background(), &smtp.ConnInfo{Connector: rc.Name, IP: netip.MustParseAddr("127.0.0.2")})
	if v.Reply != nil {
		t.Fatalf("verdict %v, want none: a list not answered counts as not listing", v.Reply)
	}
	if n := counter(t, reg, "umbra_dnsbl_lookups_total", map[string]string{"zone": "bl.test", "result": "panicked"}); n != 1 {
		t.Fatalf("panicked lookups %v, want 1 (umbra's defect, not the list's error)", n)
	}
	if n := counter(t, reg, "umbra_dnsbl_panics_total", nil); n != 1 {
		t.Fatalf("umbra_dnsbl_panics_total %v, want 1", n)
	}
}
