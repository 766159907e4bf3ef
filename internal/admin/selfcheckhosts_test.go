package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: the smart hosts route explain --topology FILE gives the daemon
// to check (GET /v1/selfcheck/…?hosts=given&smart_host=…) are checked as
// every next-hop address is — the configuration's smart_hosts, queue
// redirect --to (config.CheckHostPort) — before anything is looked up:
// a leading zero, a sign, a port out of range, an empty host, a zoned
// IPv6 address or the unspecified address is a 400 naming the value,
// and delivery's check is never asked about it.
func TestSelfCheckHostsChecksEachSmartHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := Listen(path, &fakeQueue{}, nil, Status{Server: "mx.test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	var asked []string
	s.SetSelfCheck(func(ctx context.Context, connector, domain string) any { return map[string]string{} })
	s.SetSelfCheckHosts(func(ctx context.Context, connector string, hosts []string, domain string) any {
		asked = append(asked, hosts...)
		return map[string]bool{"hosts_given": true}
	})
	c := NewClient(path)
	for _, bad := range []string{"relay.example:025", "relay.example:+25", "relay.example:-0", "relay.example:65536",
		"relay.example:0", ":25", "", "[fe80::1%eth0]:25", "fe80::1%eth0", "0.0.0.0:25", "999.1.1.1:25", "relay example:25"} {
		var out map[string]any
		err := c.SelfCheckHosts("out", "example.org", []string{"relay.example:25", bad}, &out)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("smart host %q: %v, want status 400", bad, err)
			continue
		}
		if !strings.Contains(ae.Error(), "smart host") {
			t.Errorf("smart host %q: the refusal does not say what it refuses: %v", bad, err)
		}
	}
	if len(asked) != 0 {
		t.Fatalf("delivery was asked about refused smart hosts: %q", asked)
	}
	var out map[string]any
	if err := c.SelfCheckHosts("out", "example.org", []string{"relay.example:25", "[2001:db8::1]:2525", "192.0.2.7"}, &out); err != nil {
		t.Fatalf("valid smart hosts: %v", err)
	}
	if err := c.SelfCheckHosts("out", "example.org", nil, &out); err != nil { // none: MX
		t.Fatalf("no smart host: %v", err)
	}
	if len(asked) != 3 {
		t.Fatalf("delivery was asked about %q, want the three valid smart hosts", asked)
	}
}
