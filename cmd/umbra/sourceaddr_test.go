package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt25 F1: an outbound source address this machine does not have is
// refused at its line by config check and serve, as a listener is — not
// by the bind error of delivery's start without file or line under the
// summary "a file it names is not valid" — and the summary says what is
// wrong.
func TestSourceAddressNotHereRefusedAtItsLine(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Skip("this system binds addresses it does not have: nothing to refuse")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, server, connector, want string
	}{
		{"server", "192.0.2.55", "", "server.yaml:1: server.source_address 192.0.2.55 is not an address of this machine"},
		{"connector", "", "192.0.2.56", "connector.yaml:12: send_connectors[0].source_address 192.0.2.56 is not an address of this machine"},
	} {
		cfg := filepath.Join(dir, tc.name+".yaml")
		data := filepath.Join(dir, tc.name+"-data")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.src.test, data_dir: %s, metrics_listen: "", source_address: %q}
accepted_domains: [{domain: src.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: in
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    smart_hosts: [relay.src.test]
    source_address: %q
`, data, tc.server, tc.connector)), 0o600)
		summary := cfg + " binds outbound connections to an address this machine does not have"
		for _, args := range [][]string{{"config", "check", cfg}, {"serve", "--config", cfg}} {
			out, err := exec.Command(umbraBin, args...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), summary) ||
				strings.Contains(string(out), "a file it names") ||
				strings.Count(string(out), tc.server+tc.connector) != 1 { // once: not again by the delivery setup that binds it

				t.Errorf("%s: %s: %v\n%s\nwant exit %d, %s and %s", tc.name, args[0], err, out, exitConfig, tc.want, summary)
			}
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("%s: a refused start left the data directory %s", tc.name, data)
		}
	}
}
