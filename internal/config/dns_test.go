package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const dnsBase = `server:
  name: a.example.test
receive_connectors:
  - name: internet
    bindings: ["127.0.0.1:25"]
`

func TestDNSDefaultsAndKeys(t *testing.T) {
	c, err := Parse([]byte(dnsBase), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := c.DNS
	if len(d.Servers) != 0 || d.Timeout.D() != DefaultDNSTimeout || d.Attempts != DefaultDNSAttempts ||
		d.CacheSize != DefaultDNSCacheSize || d.MaxTTL.D() != DefaultDNSMaxTTL || d.NegativeTTL.D() != DefaultDNSNegativeTTL || d.TrustAD ||
		d.HostsPath() != "/etc/hosts" {
		t.Fatalf("defaults: %+v", d)
	}
	f := c.ReceiveConnectors[0].ConnectionFiltering
	if f.Enabled() || f.DNSBL.Threshold != 1 || f.DNSBL.Action != ActionReject || f.HELO.Syntax != ActionOff || f.HELO.FCrDNS != ActionOff {
		t.Fatalf("connection filtering defaults: %+v", f)
	}

	c, err = Parse([]byte(dnsBase+`    connection_filtering:
      dnsbl:
        threshold: 2
        action: tempfail
        lists:
          - zone: zen.spamhaus.org
            weight: 2
            codes:
              "127.0.0.2": SBL
              "127.0.0.4-127.0.0.7": XBL
              "127.0.0.8/29": PBL
          - zone: bl.example.test.
          - zone: wl.example.test
            kind: exempt
      helo:
        syntax: reject
        fcrdns: log
        must_resolve: tempfail
dns:
  servers: ["127.0.0.53", "127.0.0.1:5353", "::1"]
  timeout: 2s
  attempts: 3
  cache_size: 100
  max_ttl: 10m
  negative_ttl: 1m
  trust_ad: true
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.DNS.ServerAddrs(), ","); got != "127.0.0.53:53,127.0.0.1:5353,[::1]:53" {
		t.Fatalf("servers %s", got)
	}
	if c.DNS.Timeout.D() != 2*time.Second || c.DNS.Attempts != 3 || c.DNS.CacheSize != 100 || !c.DNS.TrustAD ||
		c.DNS.MaxTTL.D() != 10*time.Minute || c.DNS.NegativeTTL.D() != time.Minute {
		t.Fatalf("dns: %+v", c.DNS)
	}
	f = c.ReceiveConnectors[0].ConnectionFiltering
	b := f.DNSBL
	if !f.Enabled() || b.Threshold != 2 || b.Action != ActionTempfail || len(b.Lists) != 3 || b.Lists[0].Weight != 2 ||
		b.Lists[1].Weight != 1 || b.Lists[1].Kind != ListBlock || b.Lists[2].Kind != ListExempt || len(b.Lists[0].Codes) != 3 {
		t.Fatalf("dnsbl: %+v", b)
	}
	if f.HELO != (HELOChecks{Syntax: ActionReject, FCrDNS: ActionLog, MustResolve: ActionTempfail}) {
		t.Fatalf("helo: %+v", f.HELO)
	}
}

// Every mistake in the dns and connection_filtering sections is named
// with its file and line.
func TestDNSBadConfigs(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"dns:\n  servers: [\"resolver.example\"]\n", `x.yaml:8: dns.servers: "resolver.example" is not an IP address`},
		{"dns:\n  servers: [\"127.0.0.1:0\"]\n", `x.yaml:8: dns.servers: "127.0.0.1:0" has no valid port`},
		// rt20e-F6: a zone names one machine's interface; it was dropped silently.
		{"dns:\n  servers: [\"[fe80::1%eth0]:53\"]\n", `x.yaml:8: dns.servers: "[fe80::1%eth0]:53": an IPv6 address is written without a zone (%)`},
		{"dns:\n  servers: [\"fe80::1%lo\"]\n", `x.yaml:8: dns.servers: "fe80::1%lo": an IPv6 address is written without a zone (%)`},
		{"dns:\n  servers: [\"127.0.0.1\", \"[::1%nosuchif9]:41853\"]\n", `x.yaml:8: dns.servers: "[::1%nosuchif9]:41853": an IPv6 address is written without a zone (%)`},
		{"dns:\n  servers: [\"192.0.2.1\"]\n  trust_ad: true\n", `x.yaml:8: dns.trust_ad: server 192.0.2.1 is not on loopback`},
		{"dns:\n  trust_ad: true\n", `x.yaml:8: dns.trust_ad needs dns.servers listed`},
		{"dns:\n  hosts_file: etc/hosts\n", `x.yaml:8: dns.hosts_file: "etc/hosts" is not an absolute path`},
		{"dns:\n  attempts: 11\n", `x.yaml:8: dns.attempts must be 1 to 10, not 11`},
		{"dns:\n  cache_size: -1\n", `x.yaml:8: dns.cache_size -1 is outside its range`},
		{"dns:\n  max_ttl: -1s\n", `x.yaml:8: dns.max_ttl: negative duration "-1s"`},
		{"dns:\n  servers: []\n  retries: 3\n", `x.yaml:9: unknown key "retries" in dns`},
		{"    connection_filtering:\n      dnsbl:\n        action: bounce\n", `x.yaml:8: connection_filtering.dnsbl.action must be reject, tempfail or log, not "bounce"`},
		{"    connection_filtering:\n      dnsbl:\n        threshold: 0\n", `x.yaml:8: connection_filtering.dnsbl.threshold must be positive`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: \"bad..zone\"\n", `x.yaml:9: connection_filtering.dnsbl.lists: zone "bad..zone" is not a domain name`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n          - zone: A.test.\n", `x.yaml:10: connection_filtering.dnsbl.lists: zone a.test is listed twice`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n            kind: white\n", `x.yaml:10: connection_filtering.dnsbl.lists: kind must be block, allow or exempt, not "white"`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n            weight: 0\n", `x.yaml:10: connection_filtering.dnsbl.lists: weight must be positive`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n            codes:\n              \"10.0.0.2\": spam\n", `x.yaml:11: connection_filtering.dnsbl.lists: code "10.0.0.2": outside 127.0.0.0/8`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n            codes:\n              \"127.0.0.2\": spam\n              \"127.255.255.254\": oops\n", `x.yaml:12: connection_filtering.dnsbl.lists: code "127.255.255.254": reaches 127.255.255.0/24`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n            codes:\n              \"127.0.0.2\": \"\"\n", `x.yaml:11: connection_filtering.dnsbl.lists: code "127.0.0.2" needs a reason`},
		{"    connection_filtering:\n      dnsbl:\n        lists:\n          - zone: a.test\n            score: 3\n", `x.yaml:10: unknown key "score" in receive_connectors[0].connection_filtering.dnsbl.lists[0]`},
		{"    connection_filtering:\n      helo:\n        fcrdns: strict\n", `x.yaml:8: connection_filtering.helo.fcrdns must be off, log, tempfail or reject, not "strict"`},
	} {
		data := dnsBase + c.yaml
		if strings.HasPrefix(c.yaml, "dns:") {
			data = dnsBase + "    connection_filtering: {}\n" + c.yaml
		}
		_, err := Parse([]byte(data), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.yaml, err, c.want)
		}
	}
}

func TestParseReturnCode(t *testing.T) {
	for _, c := range []struct {
		in          string
		first, last string
		err         string
	}{
		{in: "127.0.0.2", first: "127.0.0.2", last: "127.0.0.2"},
		{in: " 127.0.0.4 - 127.0.0.7 ", first: "127.0.0.4", last: "127.0.0.7"},
		{in: "127.0.1.0/24", first: "127.0.1.0", last: "127.0.1.255"},
		{in: "127.0.0.0/9", first: "127.0.0.0", last: "127.127.255.255"},
		{in: "127.0.0.0/8", err: "reaches 127.255.255.0/24"},
		{in: "127.255.255.252", err: "reaches 127.255.255.0/24"},
		{in: "127.0.0.7-127.0.0.4", err: "ends before it starts"},
		{in: "127.0.1.1/24", err: "host bits"},
		{in: "126.0.0.2", err: "outside 127.0.0.0/8"},
		{in: "127.0.0.2-128.0.0.1", err: "outside 127.0.0.0/8"},
		{in: "::1", err: "not an IPv4 address"},
		{in: "spam", err: "not an IPv4 address"},
		{in: "", err: "not an IPv4 address"},
	} {
		r, err := ParseReturnCode(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || r.First.String() != c.first || r.Last.String() != c.last {
			t.Errorf("%q: %v-%v, %v", c.in, r.First, r.Last, err)
		}
	}
	if !IsDNSBLAnswer(netip.MustParseAddr("127.0.0.2")) || IsDNSBLAnswer(netip.MustParseAddr("127.255.255.254")) ||
		IsDNSBLAnswer(netip.MustParseAddr("10.0.0.1")) || !IsDNSBLErrorCode(netip.MustParseAddr("127.255.255.255")) {
		t.Fatal("answer classes")
	}
}

// FuzzParseReturnCode: any key either fails or gives a non-empty range of
// listing codes, all inside 127.0.0.0/8 and none an error code.
func FuzzParseReturnCode(f *testing.F) {
	for _, s := range []string{"127.0.0.2", "127.0.0.4-127.0.0.7", "127.0.0.0/24", "127.0.0.0/8", "127.255.255.254", "10.0.0.1", "-", "/", "127.0.0.1-", "::ffff:127.0.0.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReturnCode(s)
		if err != nil {
			return
		}
		if r.Last.Less(r.First) || !IsDNSBLAnswer(r.First) || !IsDNSBLAnswer(r.Last) {
			t.Fatalf("%q gave %v-%v", s, r.First, r.Last)
		}
		if !r.Contains(r.First) || !r.Contains(r.Last) {
			t.Fatalf("%q: range does not hold its ends", s)
		}
	})
}
