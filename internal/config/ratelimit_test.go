package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Broken rate_limits fail the load with their line; defaults fill the
// windows and prefixes.
func TestRateLimitsConfig(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ yaml, want string }{
		"user connections": {"    rate_limits:\n      user: {connections: 5}\n", "umbra.yaml:6: rate_limits.user.connections: connections are counted per address and network only"},
		"domain conns":     {"    rate_limits: {sender_domain: {connections: 5}}\n", "rate_limits.sender_domain.connections"},
		"prefix":           {"    rate_limits:\n      ipv4_prefix: 33\n", "umbra.yaml:6: rate_limits.ipv4_prefix 33"},
		"v6 prefix":        {"    rate_limits: {ipv6_prefix: 8}\n", "rate_limits.ipv6_prefix 8"},
		"exempt":           {"    rate_limits:\n      exempt: [10.0.0.0/33]\n", "umbra.yaml:6: rate_limits.exempt \"10.0.0.0/33\""},
		"negative":         {"    rate_limits: {address: {messages: -1}}\n", "address.messages -1 is outside its range"},
		"unknown":          {"    rate_limits: {address: {mails: 1}}\n", "mails"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "umbra.yaml")
			os.WriteFile(p, []byte(ldapBase+tc.yaml), 0o600)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	p := filepath.Join(dir, "umbra.yaml")
	// A user is counted where sessions log in (auth.mechanisms).
	os.WriteFile(p, []byte(ldapBase+"    auth: {mechanisms: [PLAIN], credentials_file: creds, allow_insecure: true}\n"+
		"    rate_limits: {address: {messages: 5}, user: {recipients: 9, window: 1h}}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "creds"), nil, 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r := c.ReceiveConnectors[0].RateLimits
	if r.IPv4Prefix != 24 || r.IPv6Prefix != 64 || r.Address.Window.D() != time.Minute || r.User.Window.D() != time.Hour ||
		r.Network.Window.D() != time.Minute || !r.Any() || r.Network.Any() {
		t.Fatalf("defaults: %+v", r)
	}
}
