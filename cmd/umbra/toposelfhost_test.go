package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A smart host of a topology send connector this server sends through
// (a source server) that is this server itself — one of its receive
// connectors' addresses — makes its mail loop back here (451 4.4.6, never
// sent). config check says so at the topology file's line, as it does
// for a smart host of the configuration file; serve says so at start and
// at each reload that changes the warnings (OPS-).
func TestTopologySmartHostThatIsThisServerWarns(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	topo := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topo, []byte(`sites:
  - {name: a}
servers:
  - {name: hub-a, role: hub, site: a, address: "`+listen+`"}
  - {name: hub-b, role: hub, site: a, address: "127.0.0.2:2525"}
send_connectors:
  - name: other
    address_spaces: [{domain: "other.test", cost: 1}]
    source_servers: [hub-b]
    smart_hosts: ["`+listen+`"]
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    source_servers: [hub-a]
    smart_hosts: ["`+listen+`"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(cfg, []byte(`server:
  name: hub-a
  role: hub
  data_dir: `+filepath.Join(dir, "data")+`
  metrics_listen: ""
topology: `+topo+`
accepted_domains:
  - domain: example.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: loopback
    bindings: ["`+listen+`"]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit, relay]
mailbox:
  maildir: maildir
`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := topo + ":14: warning: topology send connector out: smart host " + listen +
		" is an address this server listens on: its mail would loop back here"
	out, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("config check: %v\n%s\nwant a line with %q", err, out, want)
	}
	if strings.Contains(string(out), "send connector other") {
		t.Errorf("config check warns of a connector this server does not send through:\n%s", out)
	}
	d := startUmbra(t, cfg, listen)
	count := func() int {
		b, _ := os.ReadFile(d.log)
		return strings.Count(string(b), "topology send connector out: smart host "+listen)
	}
	if n := count(); n != 1 {
		t.Errorf("the start logged the warning %d times, want once", n)
	}
	// A reload of the same file: the warnings stand, said in one line,
	// not repeated (TestOPSReloadLogsConfigCheckWarnings: a reload that
	// changes them logs them again).
	d.hup()
	unchanged := func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "configuration warnings unchanged")
	}
	for deadline := time.Now().Add(10 * time.Second); !unchanged(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("the reload did not say the warnings stand")
		}
	}
	if n := count(); n != 1 {
		t.Errorf("the reload of the same file logged the warning again (%d in all)", n)
	}
}
