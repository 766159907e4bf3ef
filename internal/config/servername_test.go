package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rt51 F9: a server's name is a host name, compared without letter case
// and final dot wherever it is written (the topology's servers, its
// databases' servers, source servers and bridgeheads, server.name). Two
// spellings of one name are one server, or a duplicate refused at its
// line; an operator's capital letter never makes a server unknown to
// itself or to a peer.
func TestServerNamesComparedAsHostNames(t *testing.T) {
	const topo = `sites:
  - {name: Hub-Site, subnets: ["127.0.1.0/24"]}
servers:
  - {name: CM.rt51.test, role: hub, site: hub-site, address: "127.0.1.1:25"}
  - {name: mbx.rt51.test, role: mailbox, site: HUB-SITE, address: "127.0.1.9:24"}
mailbox_databases:
  - {name: DB1, server: MBX.rt51.test.}
recipients:
  - {match: corp.test, database: DB1}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [cm.rt51.test.], smart_hosts: ["127.0.3.8:25"]}
`
	tp, err := ParseTopology([]byte(topo), "t.yaml")
	if err != nil {
		t.Fatalf("one server in two spellings refused: %v", err)
	}
	// Loaded, every reference is the server's defined spelling, so every
	// comparison downstream (routing, shadow peers, the CLI) is of one
	// string.
	if got := []string{tp.Servers[0].Name, tp.MailboxDatabases[0].Server, tp.SendConnectors[0].SourceServers[0]}; got[0] != "CM.rt51.test" || got[1] != "mbx.rt51.test" || got[2] != "CM.rt51.test" {
		t.Errorf("names after load %q, want CM.rt51.test, mbx.rt51.test, CM.rt51.test", got)
	}
	if tp.Servers[0].Site != "Hub-Site" || tp.Servers[1].Site != "Hub-Site" {
		t.Errorf("sites after load %q, %q, want the site as defined, Hub-Site", tp.Servers[0].Site, tp.Servers[1].Site)
	}

	// The same name twice, by case or by final dot: refused at the
	// second one's line.
	for _, dup := range []string{"cm.rt51.test.", "CM.RT51.TEST", "cm.rt51.test"} {
		src := strings.Replace(topo, "  - {name: mbx.rt51.test,", "  - {name: "+dup+", role: hub, site: Hub-Site, address: \"127.0.1.2:25\"}\n  - {name: mbx.rt51.test,", 1)
		_, err := ParseTopology([]byte(src), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), "t.yaml:5: server "+`"`+dup+`"`) {
			t.Errorf("%s after CM.rt51.test: %v, want a duplicate at t.yaml:5", dup, err)
		}
	}

	// server.name in another spelling is the topology's server: its own
	// checks (role, address) find it, and the spelling is refused at the
	// topology server's line (peers keep a name as written).
	path := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	err = CheckTopologyServer(path, "Cm.Rt51.Test.", "edge", nil)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:4: the topology gives server") ||
		!strings.Contains(err.Error(), `t.yaml:4: the topology names this server "CM.rt51.test", its server.name is "Cm.Rt51.Test."`) {
		t.Errorf("a role mismatch and a spelling under another spelling: %v", err)
	}
	if err := CheckTopologyServer(path, "CM.rt51.test", "hub", nil); err != nil {
		t.Errorf("the topology's own spelling: %v", err)
	}

	// A smart host naming this server in another spelling names it.
	if SmartHostNames("CM.rt51.test.:25", 25, "cm.rt51.test", "127.0.1.1:25") != 1 {
		t.Errorf("smart host CM.rt51.test. is not taken for server cm.rt51.test")
	}
}
