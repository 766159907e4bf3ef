package main

import (
	"errors"
	"os"
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

// The file edited into an invalid one while the daemon runs — the case
// route explain asks the daemon for — still finds the daemon by the
// socket the file names (read leniently: server.data_dir and
// admin_socket only) and explains the configuration the daemon runs,
// not a config error (OPS-; mendy19 item 7), warning that the next
// reload would refuse the file, at its line (rt21d M5). Without the
// daemon the invalid file is a config error, naming file and line.
func TestRouteExplainAsksTheDaemonWhenTheFileIsInvalid(t *testing.T) {
	dns := dnstest.Start(t, "test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"x.test. 300 IN MX 10 mx.x.test.", "mx.x.test. 300 IN A 127.0.0.182")
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.182")
	cfgPath := umbraHub(t, dir, listen, "1h", "internet", "port: 39802\ntls: opportunistic", dnsServers(dns.Addr)+noMTASTS)
	d := startUmbra(t, cfgPath, listen)

	editConfig(t, cfgPath, "tls: opportunistic", "tls: sometimes") // a value no release takes
	for _, how := range [][]string{{"--config", cfgPath}, {"UMBRA_CONFIG=" + cfgPath}} {
		args := []string{"route", "explain", "u@x.test"}
		if how[0] == "--config" {
			args = append(args, how...)
		}
		cmd := exec.Command(umbraBin, args...)
		cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
		if how[0] != "--config" {
			cmd.Env = append(cmd.Env, how[0])
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			d.dumpLog()
			t.Fatalf("route explain (%s) with the file invalid: %v\n%s%s", how[0], err, out, stderr.String())
		}
		if !strings.Contains(string(out), "send connector internet, tls: opportunistic") {
			t.Errorf("route explain (%s) does not explain the daemon's configuration:\n%s%s", how[0], out, stderr.String())
		}
		// The file's error, at its line, as what the next reload
		// would refuse (rt21d M5), and nothing else.
		if e := stderr.String(); !strings.Contains(e, "the next reload would fail") || !strings.Contains(e, cfgPath+":") ||
			!strings.Contains(e, "sometimes") || strings.Contains(e, "no daemon answers") {
			t.Errorf("route explain (%s) does not warn of the file the next reload would refuse:\n%s", how[0], e)
		}
	}

	d.kill()
	cmd := exec.Command(umbraBin, "route", "explain", "--config", cfgPath, "u@x.test")
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != exitConfig || !strings.Contains(string(out), cfgPath+":") {
		t.Errorf("without the daemon, the invalid file: %v\n%s", err, out)
	}
}
