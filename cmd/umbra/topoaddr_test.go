package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rt17 F3, F4: a hub started from another hub's file (its server.name),
// or a typo in its own topology address, listens where the topology does
// not put it; its peers would take its copies over while it runs. config
// check and serve refuse it at the address's line; address_translated
// lets a server reached through a proxy start.
func TestTopologyAddressMustBeBound(t *testing.T) {
	dir := t.TempDir()
	topo := twoHubsOfOneSite(t, dir)
	write := func(name, server, extra string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: ""%s}
topology: %s
receive_connectors:
  - {name: org, bindings: ["127.0.63.18:2525"], remote_ranges: ["127.0.0.0/8"], externally_secured: true, permissions: {servers: [submit, relay, accept-xshadow]}}
`, server, filepath.Join(dir, name), extra, topo)), 0o600)
		return p
	}
	for _, tc := range []struct {
		cfg  string
		want string // "" accepted
	}{
		{write("hub2", "hub2", ""), ""},
		{write("copied", "hub1", ""), topo + `:4: the topology puts server "hub1" at 127.0.63.17:2525, but no receive connector of this server listens there`},
		{write("proxied", "hub1", ", address_translated: true"), ""},
	} {
		out, err := exec.Command(umbraBin, "config", "check", tc.cfg).CombinedOutput()
		if tc.want == "" {
			if err != nil {
				t.Errorf("config check %s: %v\n%s", tc.cfg, err, out)
			}
			continue
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), tc.want) {
			t.Errorf("config check %s: %v\n%s\nwant %s", tc.cfg, err, out, tc.want)
		}
		out, err = exec.Command(umbraBin, "serve", "--config", tc.cfg).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("serve %s: %v\n%s", tc.cfg, err, out)
		}
	}
}

// rt32 F9: a server.name the topology does not hold is the
// configuration file's error, at server.name's line: config check and
// serve name that file, not the topology (which every server reads).
func TestServerNameNotInTopologyAtItsLine(t *testing.T) {
	dir := t.TempDir()
	topo := twoHubsOfOneSite(t, dir)
	p := filepath.Join(dir, "typo.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`server:
  name: hub2.tset
  data_dir: %s
  metrics_listen: ""
topology: %s
receive_connectors:
  - {name: org, bindings: ["127.0.63.18:2525"], remote_ranges: ["127.0.0.0/8"], externally_secured: true, permissions: {servers: [submit, relay, accept-xshadow]}}
`, filepath.Join(dir, "typo"), topo)), 0o600)
	want := p + `:2: server.name "hub2.tset" is not a server of the topology ` + topo
	out, err := exec.Command(umbraBin, "config", "check", p).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig || !strings.Contains(string(out), want) ||
		strings.Contains(string(out), "is not valid") {
		t.Errorf("config check: %v\n%s\nwant %s", err, out, want)
	}
	out, err = exec.Command(umbraBin, "serve", "--config", p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("serve: %v\n%s\nwant %s", err, out, want)
	}
}
