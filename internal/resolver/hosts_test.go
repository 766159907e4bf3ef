package resolver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// EDGE "DNS done once": a smart host or topology server named only in the
// hosts file resolves, before DNS is asked, through the cache as through
// the client; every other record type stays DNS's.
func TestHostsFileBeforeDNS(t *testing.T) {
	srv := dnstest.Start(t,
		"relay.example.test. 300 IN A 127.0.0.20",
		"relay.example.test. 300 IN MX 10 relay.example.test.",
		"dnsonly.example.test. 300 IN A 127.0.0.21",
	)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("# static names\n"+
		"127.0.0.30   smarthost.corp.test  smarthost # the relay\n"+
		"::1          smarthost.corp.test\n"+
		"127.0.0.31   Relay.Example.Test.\n"+
		"fe80::1%eth0 linklocal.test\n"+
		"not-an-address broken.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1, HostsFile: hosts})
	if err != nil {
		t.Fatal(err)
	}
	cache := resolver.NewCache(c, resolver.CacheConfig{})
	ctx := context.Background()
	for name, r := range map[string]resolver.Resolver{"client": c, "cache": cache} {
		got, err := r.LookupHost(ctx, "SmartHost.corp.test.")
		if err != nil || strings.Join(got, ",") != "127.0.0.30,::1" {
			t.Fatalf("%s: smarthost = %v, %v", name, got, err)
		}
		if got, err := r.LookupHost(ctx, "smarthost"); err != nil || strings.Join(got, ",") != "127.0.0.30" {
			t.Fatalf("%s: alias = %v, %v", name, got, err)
		}
		// The file wins over DNS for addresses, as "files dns" does.
		if got, err := r.LookupHost(ctx, "relay.example.test"); err != nil || strings.Join(got, ",") != "127.0.0.31" {
			t.Fatalf("%s: relay = %v, %v", name, got, err)
		}
		if got, err := r.LookupHost(ctx, "dnsonly.example.test"); err != nil || strings.Join(got, ",") != "127.0.0.21" {
			t.Fatalf("%s: a name not in the file = %v, %v", name, got, err)
		}
		// MX records are DNS's alone.
		if mx, err := r.LookupMX(ctx, "relay.example.test"); err != nil || len(mx) != 1 {
			t.Fatalf("%s: MX = %v, %v", name, mx, err)
		}
		// A zoned (link-local) address and a malformed line are skipped.
		for _, n := range []string{"linklocal.test", "broken.test"} {
			if got, err := r.LookupHost(ctx, n); err == nil {
				t.Fatalf("%s: %s resolved to %v", name, n, got)
			}
		}
	}

	// No hosts file configured: DNS alone.
	plain, _ := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if got, err := plain.LookupHost(ctx, "relay.example.test"); err != nil || strings.Join(got, ",") != "127.0.0.20" {
		t.Fatalf("without a hosts file: %v, %v", got, err)
	}
	if _, err := plain.LookupHost(ctx, "smarthost.corp.test"); err == nil {
		t.Fatal("a name only in a hosts file resolved without one configured")
	}
	// A missing file is an empty table, not an error.
	gone, _ := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1,
		HostsFile: filepath.Join(t.TempDir(), "absent")})
	if got, err := gone.LookupHost(ctx, "relay.example.test"); err != nil || strings.Join(got, ",") != "127.0.0.20" {
		t.Fatalf("missing hosts file: %v, %v", got, err)
	}
}
