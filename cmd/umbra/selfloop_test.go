package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/resolver/dnstest"
)

// A send connector whose smart host is this server itself: the first
// attempt sees the next hop greet with the server's own name and defers
// with 4.4.6 "loops back to myself", instead of relaying the message to
// itself max_hop_count times (one stored copy per round).
func TestSmartHostThatIsThisServer(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, listen)
	startUmbra(t, cfg, listen)
	if r := rawSend(t, listen, "a@example.org", []string{"x@elsewhere.example"}, "Subject: round\r\n\r\nhi"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %s", r)
	}
	logText := func() string { b, _ := os.ReadFile(cfg + ".log"); return string(b) }
	waitCond(t, "the loop deferred", 20*time.Second, func() bool {
		return strings.Contains(logText(), "loops back to myself")
	})
	log := logText()
	if n := strings.Count(log, `msg="message accepted"`); n != 1 {
		t.Fatalf("%d messages accepted (the message went round); log:\n%s", n, log)
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "event=defer") && strings.Contains(l, "x@elsewhere.example") &&
			!strings.Contains(l, "451 4.4.6 mail for elsewhere.example loops back to myself") {
			t.Errorf("deferral without the loop reason: %s", l)
		}
	}
}

// rt20 N4: `route explain` tells the operator when a route's next hops
// are this server — an MX host at one of its addresses, a smart host
// given by a name that resolves to one — and that the mail would loop
// back (the daemon's delivery.CheckSelf: the reply delivery gives);
// `config check` warns of the smart host given by name.
func TestRouteExplainSelfLoop(t *testing.T) {
	listen := freeAddr(t, "127.0.0.219")
	ip, port, _ := net.SplitHostPort(listen)
	dns := dnstest.Start(t,
		"test. 300 IN SOA ns.test. h.test. 1 2 3 4 60",
		"loop.test. 300 IN MX 10 mx.loop.test.",
		"mx.loop.test. 300 IN A "+ip,
		"backup.test. 300 IN MX 10 mx.other.test.",
		"backup.test. 300 IN MX 20 mx.loop.test.",
		"mx.other.test. 300 IN A 127.0.0.220",
		"self.test. 300 IN A "+ip,
		// rt16b F1: an MX host with this server's name at another
		// server's address is that server; at this server's, it is this one.
		"samename.test. 300 IN MX 10 edge.umbra.test.",
		"samename.test. 300 IN MX 20 mx.other.test.",
		"edge.umbra.test. 300 IN A 127.0.0.220",
		"ownname.test. 300 IN MX 10 own.umbra.test.",
		"own.umbra.test. 300 IN A "+ip)
	dir := t.TempDir()
	cfg := `server:
  name: edge.umbra.test
  data_dir: ` + filepath.Join(dir, "data") + `
  metrics_listen: ""
accepted_domains:
  - domain: umbra.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: loopback
    bindings: ["` + listen + `"]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit, relay]
send_connectors:
  - name: internet
    address_spaces: [{domain: "*", cost: 1}]
    port: ` + port + `
  - name: relay
    address_spaces: [{domain: "vianame.test", cost: 1}]
    smart_hosts: ["self.test:` + port + `"]
dns:
  servers: ["` + dns.Addr + `"]
outbound_tls:
  mta_sts: false
mailbox:
  maildir: maildir
`
	cfgPath := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(umbraBin, "config", "check", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "warning: send connector relay: smart host self.test:"+port+" resolves to self.test["+ip+"]:"+port+
		", an address this server listens on: its mail would loop back here") {
		t.Errorf("config check: %v\n%s", err, out)
	}
	startUmbra(t, cfgPath, listen)
	sock := filepath.Join(dir, "data", "admin.sock")
	self := "[" + ip + "]:" + port
	for rcpt, wants := range map[string][]string{
		"u@loop.test": {"this server: next hop mx.loop.test" + self + " is an address this server listens on",
			"loop: no other host is left, the mail would loop back to this server: 554 5.4.6 mail for loop.test loops back to myself"},
		"u@vianame.test": {"this server: next hop self.test" + self,
			"451 4.4.6 mail for vianame.test loops back to myself: next hop self.test" + self + " is an address this server listens on; check the smart hosts of send connector relay"},
		"u@backup.test": {"this server: next hop mx.loop.test" + self, "tried instead: mx.other.test[127.0.0.220]:" + port},
		"u@ownname.test": {"this server: next hop own.umbra.test" + self + " is an address this server listens on; not connected to",
			"554 5.4.6 mail for ownname.test loops back to myself: next hop own.umbra.test" + self + " is an address this server listens on"},
	} {
		out, err := exec.Command(umbraBin, "route", "explain", "--config", cfgPath, "--socket", sock, rcpt).CombinedOutput()
		if err != nil {
			t.Fatalf("route explain %s: %v\n%s", rcpt, err, out)
		}
		for _, w := range wants {
			if !strings.Contains(string(out), w) {
				t.Errorf("route explain %s lacks %q:\n%s", rcpt, w, out)
			}
		}
	}
	for _, rcpt := range []string{"u@elsewhere.test", "u@samename.test"} {
		out, err = exec.Command(umbraBin, "route", "explain", "--config", cfgPath, "--socket", sock, rcpt).CombinedOutput()
		if err != nil || strings.Contains(string(out), "this server:") {
			t.Errorf("route explain of a destination not at this server (%s): %v\n%s", rcpt, err, out)
		}
	}
}
