package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRT11ExplainTopologyFileSelfCheckOfTheFile (RT-11, OPS-3; rt39
// F1): route explain --topology FILE while a daemon runs another
// topology checks FILE's next hops against this server — the daemon
// looks up FILE's smart hosts by its own bindings and resolver —, not
// the smart hosts of the topology the daemon runs: a loop FILE has is
// shown (text and --json's self), and one only the daemon's topology
// has is not. And a daemon whose topology on disk is broken, asked with
// --topology FILE, warns that the next reload would fail while it
// explains the daemon's configuration with FILE, as the header says —
// not "the configuration and topology the daemon runs".
func TestRT11ExplainTopologyFileSelfCheckOfTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.141")
	other := reserveAddr(t, "127.0.0.141")
	cfg, _, _ := rcptHub(t, dir, listen)
	topo := func(name, smartHost string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(fmt.Sprintf(`sites: [{name: s1}]
servers:
  - {name: hub.rcpt.test, role: hub, site: s1, address: %q}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub.rcpt.test], smart_hosts: [%q]}
`, listen, smartHost)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fixed := topo("fixed.yaml", other)
	loop := topo("loop.yaml", listen) // a smart host that is this server's own listener
	base, _ := os.ReadFile(cfg)
	runs := func(topology string) {
		t.Helper()
		if err := os.WriteFile(cfg, append(append([]byte(nil), base...), []byte("topology: "+topology+"\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runs(fixed)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	selfLine := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "this server:") {
				return strings.TrimSpace(l)
			}
		}
		return ""
	}
	explain := func(when string, wantLoop bool, args ...string) {
		t.Helper()
		out, errOut, code := routeExplain(t, append(append([]string{"--config", cfg}, args...), "x@remote.test")...)
		if l := selfLine(out); code != 0 || wantLoop != strings.Contains(l, "listens on") {
			t.Errorf("%s: exit %d, this server: line %q; want this server's listener found: %v\n%s%s", when, code, l, wantLoop, out, errOut)
		}
		jout, _, _ := routeExplain(t, append(append([]string{"--config", cfg, "--json"}, args...), "x@remote.test")...)
		var ex struct {
			Self []struct {
				Self  string `json:"self"`
				Loops bool   `json:"loops"`
				Note  string `json:"note"`
			} `json:"self"`
		}
		if err := json.Unmarshal([]byte(jout), &ex); err != nil || len(ex.Self) != 1 || ex.Self[0].Note != "" ||
			wantLoop != (ex.Self[0].Self != "" && ex.Self[0].Loops) {
			t.Errorf("%s --json: self %+v (%v); want a loop: %v", when, ex.Self, err, wantLoop)
		}
	}
	// (a) the daemon runs the fixed topology; FILE has the loop.
	explain("daemon on fixed, --topology loop", true, "--topology", loop)
	explain("daemon on fixed, --topology fixed", false, "--topology", fixed)
	explain("daemon on fixed, its own", false)

	// (b) the daemon runs the loop; FILE is fixed.
	runs(loop)
	if err := d.hup(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _, _ := routeExplain(t, "--config", cfg, "x@remote.test")
		if strings.Contains(selfLine(out), "listens on") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reload to the loop topology is not seen by route explain:\n%s", out)
		}
	}
	explain("daemon on loop, --topology fixed", false, "--topology", fixed)
	explain("daemon on loop, --topology loop", true, "--topology", loop)

	// The running topology broken on disk: the next reload would fail.
	if err := os.WriteFile(loop, []byte("sites: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := routeExplain(t, "--config", cfg, "--topology", fixed, "x@remote.test")
	if code != 0 || !strings.Contains(errOut, "the next reload would fail") || strings.Contains(errOut, "configuration and topology the daemon runs") ||
		!strings.Contains(errOut, "with the topology "+fixed+" as it reads now") {
		t.Errorf("broken topology on disk, --topology %s: exit %d\nstderr: %s\nwant the warning to name the topology explained\n%s", filepath.Base(fixed), code, errOut, out)
	}
}
