package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/resolver/dnstest"
)

// route explain answers from the running daemon's loaded configuration:
// after the file is edited without a reload, the connector, its tls
// setting and the address spaces it prints are the daemon's, the ones
// its TLS policy lines were looked up with — never the edited file's
// beside the daemon's lookups. With no daemon answering it explains the
// file and says so once (OPS-; rt-fixb19 item 4).
func TestRouteExplainUsesTheDaemonsLoadedConfiguration(t *testing.T) {
	dns := dnstest.Start(t, "test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"x.test. 300 IN MX 10 mx.x.test.", "mx.x.test. 300 IN A 127.0.0.176")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.176")
	cfgPath := umbraHub(t, dir, listen, "1h", "internet", "port: 39801\ntls: opportunistic", dnsServers(dns.Addr)+noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	sock := filepath.Join(dir, "data", "admin.sock")

	// The file now says another tls setting and another connector for
	// x.test; the daemon was not reloaded and still runs the first.
	editConfig(t, cfgPath, "tls: opportunistic", "tls: none")
	editConfig(t, cfgPath, "send_connectors:\n", "send_connectors:\n  - name: edited\n    address_spaces: [{domain: x.test, cost: 1}]\n    tls: required\n")

	for _, how := range [][]string{{"--socket", sock}, {"--config", cfgPath}} {
		cmd := exec.Command(umbraBin, append(append([]string{"route", "explain"}, how...), "u@x.test")...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("route explain %s: %v\n%s%s", how[0], err, out, stderr.String())
		}
		if !strings.Contains(string(out), "send connector internet, tls: opportunistic") || strings.Contains(string(out), "edited") ||
			strings.Contains(string(out), "tls: none") || !strings.Contains(string(out), "mx.x.test") {
			d.dumpLog()
			t.Errorf("route explain %s mixes the edited file with the daemon:\n%s%s", how[0], out, stderr.String())
		}
	}

	d.kill()
	cmd := exec.Command(umbraBin, "route", "explain", "--config", cfgPath, "u@x.test")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("route explain without the daemon: %v\n%s%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), "send connector edited, tls: required") {
		t.Errorf("without the daemon the file is explained:\n%s", out)
	}
	if n := strings.Count(stderr.String(), "no daemon answers"); n != 1 || !strings.Contains(stderr.String(), cfgPath) {
		t.Errorf("stderr says %d times that no daemon answers, want once naming %s:\n%s", n, cfgPath, stderr.String())
	}
}
