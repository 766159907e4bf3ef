package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRT11ExplainTopologyFileSelfCheckNotTheDaemons (RT-11, OPS-3; rt39
// F1): route explain --topology FILE while a daemon runs another
// topology explains FILE's routes; the "this server:" check the daemon
// makes is of the next hops of the topology it runs, so it is not given
// as FILE's — the line says the hops were not checked, in the text and
// in --json's self, never a loop FILE does not have nor silence over one
// it has. And a daemon whose topology on disk is broken, asked with
// --topology FILE, warns that the next reload would fail while it
// explains the daemon's configuration with FILE, as the header says —
// not "the configuration and topology the daemon runs".
func TestRT11ExplainTopologyFileSelfCheckNotTheDaemons(t *testing.T) {
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
	running := topo("running.yaml", other)
	loop := topo("loop.yaml", listen) // a smart host that is this server's own listener
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("topology: "+running+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
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
	for _, file := range []string{loop, running} {
		out, errOut, code := routeExplain(t, "--config", cfg, "--topology", file, "x@remote.test")
		if code != 0 || !strings.Contains(selfLine(out), "not checked") || !strings.Contains(selfLine(out), "--topology") {
			t.Errorf("--topology %s: exit %d, this server: line %q; want one saying FILE's next hops are not checked\n%s%s",
				filepath.Base(file), code, selfLine(out), out, errOut)
		}
		jout, _, _ := routeExplain(t, "--config", cfg, "--topology", file, "--json", "x@remote.test")
		var ex struct {
			Self []struct {
				Self string `json:"self"`
				Note string `json:"note"`
			} `json:"self"`
		}
		if err := json.Unmarshal([]byte(jout), &ex); err != nil || len(ex.Self) != 1 || ex.Self[0].Self != "" || !strings.Contains(ex.Self[0].Note, "not checked") {
			t.Errorf("--topology %s --json: self %+v (%v); want no self, a note saying not checked", filepath.Base(file), ex.Self, err)
		}
	}
	// Its own topology, as it runs it: checked by the daemon (no loop there).
	if out, errOut, code := routeExplain(t, "--config", cfg, "x@remote.test"); code != 0 || strings.Contains(selfLine(out), "not checked") {
		t.Errorf("the daemon's own topology: exit %d, this server: %q\n%s%s", code, selfLine(out), out, errOut)
	}

	// The running topology broken on disk: the next reload would fail.
	if err := os.WriteFile(running, []byte("sites: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := routeExplain(t, "--config", cfg, "--topology", loop, "x@remote.test")
	if code != 0 || !strings.Contains(errOut, "the next reload would fail") || strings.Contains(errOut, "configuration and topology the daemon runs") ||
		!strings.Contains(errOut, "with the topology "+loop+" as it reads now") {
		t.Errorf("broken topology on disk, --topology %s: exit %d\nstderr: %s\nwant the warning to name the topology explained\n%s", filepath.Base(loop), code, errOut, out)
	}
}
