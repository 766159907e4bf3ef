package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// laneAddr is a free TCP address on ip with a port in 13600-14199 (the
// ports the multi-address tests of this file may use on 127.0.0.190-194).
func laneAddr(t testing.TB, ip string) string { return addrInRange(t, ip, 13600, 600) }

// SR-1, SR-3 (shadow26 item 1): a clone of hub-b with hub-b's
// configuration — server.name hub-b, hub-b's server account and password
// — connecting from an address the topology does not give hub-b is not
// taken as hub-b: hub-a refuses its XSHADOW (550 5.7.1, counted,
// WARNed), though it logged in as hub-b. The real hub-b, connecting from
// its topology address, opens its shadow session as before. Both relay
// a message to hub-a; both arrive.
func TestShadowSessionFromAnotherAddressRefused(t *testing.T) {
	dir := t.TempDir()
	a, b, clone := laneAddr(t, "127.0.0.190"), laneAddr(t, "127.0.0.191"), laneAddr(t, "127.0.0.192")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	metricsA := freeAddr(t, "127.0.0.1")
	topo := func(bAddr string) string {
		path := filepath.Join(dir, "topology-"+strings.ReplaceAll(bAddr, ":", "-")+".yaml")
		os.WriteFile(path, []byte(fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q}
  - {name: hub-b, role: hub, site: b, address: %q}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a], smart_hosts: [%q]}
`, a, bAddr, sinkAddr)), 0o600)
		return path
	}
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "hub.umbra.test"))
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds, pw := filepath.Join(dir, "credentials"), filepath.Join(dir, "pw")
	os.WriteFile(creds, []byte("hub-a:"+string(hash)+":server\nhub-b:"+string(hash)+":server\n"), 0o600)
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	hub := func(home, name, addr, topoPath, src, peer, peerAddr, metrics string) string {
		extra := fmt.Sprintf(`send_connectors:
  - name: to-%s
    address_spaces: [{domain: "%s.invalid", cost: 1}]
    smart_hosts: [%q]
    tls: required
    auth: {username: %s, password_file: %q}
`, peer, peer, peerAddr, name, pw)
		path, _ := orgHub(t, home, name, addr, topoPath, "0s", extra)
		raw, _ := os.ReadFile(path)
		cfg := strings.Replace(string(raw), "    externally_secured: true\n",
			fmt.Sprintf("    tls: {cert_file: %q, key_file: %q}\n    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}\n",
				certFile, keyFile, creds), 1)
		cfg = strings.Replace(cfg, `metrics_listen: ""}`, fmt.Sprintf("metrics_listen: %q, source_address: %s}", metrics, src), 1)
		if !strings.Contains(cfg, "credentials_file") || !strings.Contains(cfg, "source_address") {
			t.Fatal("orgHub's configuration changed: cannot make it SASL-only with a source address")
		}
		os.WriteFile(path, []byte(cfg), 0o600)
		return path
	}
	topoA := topo(b)
	cfgA := hub(dir, "hub-a", a, topoA, "127.0.0.190", "hub-b", b, metricsA)
	cfgB := hub(dir, "hub-b", b, topoA, "127.0.0.191", "hub-a", a, "")
	// The clone: hub-b's name and credentials, at its own address (its
	// topology gives hub-b its binding, as an edited copy would).
	cfgC := hub(filepath.Join(dir, "clone"), "hub-b", clone, topo(clone), "127.0.0.192", "hub-a", a, "")

	sink := startRecorder(t, sinkAddr)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	hb := startUmbra(t, cfgB, b)
	if reply := rawSend(t, b, "b@example.org", []string{"x@remote.example"}, "Subject: from-hub-b\r\n\r\nbody"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("hub-b: reply %q", reply)
	}
	waitArrived(t, sink, []string{"from-hub-b"}, ha)
	if log, _ := os.ReadFile(ha.log); strings.Contains(string(log), "not one of that server's addresses") {
		t.Fatalf("hub-a refused hub-b's shadow session from hub-b's own address")
	}
	hb.kill()

	hc := startUmbra(t, cfgC, clone)
	hc.dumpLogIfFailed()
	if reply := rawSend(t, clone, "b@example.org", []string{"x@remote.example"}, "Subject: from-clone\r\n\r\nbody"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("clone: reply %q", reply)
	}
	waitArrived(t, sink, []string{"from-hub-b", "from-clone"}, ha)
	waitCond(t, "hub-a to count the refused shadow session", 20*time.Second, func() bool {
		return metricValue(t, metricsA, `umbra_smtp_shadow_address_refused_total{server="hub-b"}`) >= 1
	})
	log, _ := os.ReadFile(ha.log)
	if !strings.Contains(string(log), `level=WARN msg="shadow session refused: the connection's address is not one of that server's addresses in the topology`) ||
		!strings.Contains(string(log), "remote=127.0.0.192") {
		t.Errorf("hub-a logged no WARN naming the clone's address")
	}
	if clog, _ := os.ReadFile(hc.log); !strings.Contains(string(clog), "not one of hub-b's addresses in the topology") {
		t.Errorf("the clone was not told why its shadow session was refused")
	}
}
