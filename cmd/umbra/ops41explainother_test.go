package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3, RT-8 (rt41 F5): route explain --server OTHER routed with this
// server's accepted domains, mailbox store and recipient validation and
// said them as OTHER's ("deliver into this server's own mailbox store",
// "this server's mailbox store: Maildir …"). umbra knows OTHER's place
// in the topology, not its configuration: the output says which lines
// are this server's settings, and names no store of this server as
// OTHER's.
func TestOPSRouteExplainOtherServerSaysWhoseSettings(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(`sites:
  - {name: sa, subnets: ["127.0.0.168/32"]}
servers:
  - {name: hub1.ops41.test, role: hub, address: "127.0.0.168:10010"}
  - {name: hub2.ops41.test, role: hub, address: "127.0.0.168:10011"}
send_connectors:
  - {name: internet, address_spaces: [{domain: "*", cost: 10}], source_servers: [hub1.ops41.test, hub2.ops41.test], smart_hosts: ["127.0.0.168:10012"]}
`), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.ops41.test, data_dir: %s, metrics_listen: ""}
topology: %s
receive_connectors:
  - {name: in, bindings: ["127.0.0.168:10010"], remote_ranges: ["127.0.0.0/8"], permissions: {anonymous: [submit]}}
accepted_domains:
  - {domain: ops41.test, type: authoritative, recipient_validation: "off"}
mailbox: {maildir: maildir}
`, filepath.Join(dir, "data"), topo)), 0o600)
	explain := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(umbraBin, append([]string{"route", "explain", "--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("route explain %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	own := explain("x@ops41.test")
	if !strings.Contains(own, "this server's mailbox store: Maildir") {
		t.Fatalf("as this server: no own store named\n%s", own)
	}
	if strings.Contains(own, "not known here") {
		t.Errorf("as this server: says its own settings are not known\n%s", own)
	}
	other := explain("--server", "hub2.ops41.test", "x@ops41.test")
	if strings.Contains(other, "Maildir") || strings.Contains(other, "this server's mailbox store") {
		t.Errorf("as hub2: names this server's store as hub2's\n%s", other)
	}
	want := "the accepted domains, the mailbox store and the rcpt: answers below are this server's (hub1.ops41.test)"
	if !strings.Contains(other, want) {
		t.Errorf("as hub2: does not say whose settings it used\n%s\nwant %q", other, want)
	}
	if j := explain("--json", "--server", "hub2.ops41.test", "x@ops41.test"); !strings.Contains(j, `"settings_of": "hub1.ops41.test"`) {
		t.Errorf("as hub2 --json: no settings_of\n%s", j)
	}
}
