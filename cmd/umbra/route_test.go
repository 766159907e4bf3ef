package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// route explain works offline from the topology file.
func TestRouteExplain(t *testing.T) {
	run := func(args ...string) (string, int) {
		out, err := exec.Command(umbraBin, append([]string{"route", "explain", "--topology", "../../configs/topology/example.yaml"}, args...)...).Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	out, code := run("--json", "--server", "hub1.chicago.corp.example.com", "a@dub.ie.corp.example.com", "b@example.org")
	var ex routeExplanation
	if err := json.Unmarshal([]byte(out), &ex); err != nil || code != 0 || len(ex.Routes) != 2 {
		t.Fatalf("explain --json: %d %v\n%s", code, err, out)
	}
	rs := ex.Routes
	var path []string
	for _, p := range rs[0].Path {
		path = append(path, p.Site)
	}
	if strings.Join(path, ">") != "chicago>newyork>london>dublin" || rs[0].NextHops[0].Site != "newyork" || len(rs[0].Reasons) == 0 {
		t.Errorf("Chicago to Dublin: %+v", rs[0])
	}
	if rs[1].Destination != "send connector internet" {
		t.Errorf("internet mail: %s", rs[1].Destination)
	}
	out, code = run("--server", "hub1.chicago.corp.example.com", "--size", "60000000", "a@dub.ie.corp.example.com")
	if code != 0 || !strings.Contains(out, "bounce: 552 5.3.4") || !strings.Contains(out, "ny-lon") {
		t.Errorf("size limit: %d\n%s", code, out)
	}
	if _, code := run("--server", "nobody.example", "a@b.example"); code != exitNotFound {
		t.Errorf("unknown server: exit %d", code)
	}
	if _, code := run("--server", "hub1.chicago.corp.example.com", "not-an-address"); code != exitUsage {
		t.Errorf("bad address: exit %d", code)
	}
}

// Issue 11, "Fan-out visible: route explain with several recipients
// shows how they are grouped into copies and where each copy forks
// (text and --json)"; RT-6: the copy goes to the fork site.
func TestRouteExplainFanOut(t *testing.T) {
	args := []string{"route", "explain", "--topology", "testdata/topology-fork.yaml", "--server", "hub.a", "u@c.example", "v@d.example"}
	out, err := exec.Command(umbraBin, append(args, "--json")...).Output()
	var ex routeExplanation
	if err != nil || json.Unmarshal(out, &ex) != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(ex.Copies) != 1 || ex.Copies[0].ForkSite != "b" || !ex.Copies[0].Delayed || ex.Copies[0].NextHops[0].Site != "b" ||
		strings.Join(ex.Copies[0].Recipients, ",") != "u@c.example,v@d.example" {
		t.Errorf("copies %+v", ex.Copies)
	}
	out, err = exec.Command(umbraBin, args...).Output()
	if err != nil || !strings.Contains(string(out), "copy 1: u@c.example, v@d.example") || !strings.Contains(string(out), "forks at site b") {
		t.Errorf("text: %v\n%s", err, out)
	}
	// At the fork site: two copies, not split again.
	out, _ = exec.Command(umbraBin, "route", "explain", "--topology", "testdata/topology-fork.yaml", "--server", "hub.b", "--json", "u@c.example", "v@d.example").Output()
	ex = routeExplanation{}
	if json.Unmarshal(out, &ex) != nil || len(ex.Copies) != 2 || ex.Copies[0].ForkSite != "" || ex.Copies[1].ForkSite != "" {
		t.Errorf("at the fork site: %s", out)
	}
}

// Issue 16: route explain "should still explain send connector choice"
// without a topology (RT-9, RT-11).
func TestRouteExplainWithoutTopology(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "umbra.yaml")
	os.WriteFile(cfg, []byte(`server: {name: mx.a.test}
accepted_domains: [{domain: a.test, recipient_validation: off}]
mailbox: {maildir: `+filepath.Join(filepath.Dir(cfg), "maildir")+`}
receive_connectors: [{name: in, bindings: ["127.0.0.1:2525"]}]
send_connectors:
  - {name: wide, address_spaces: [{domain: "*", cost: 5}], smart_hosts: ["127.0.0.1:2600"]}
  - {name: partner, address_spaces: [{domain: "*.partner.test", cost: 9}], smart_hosts: ["127.0.0.1:2601"]}
`), 0o600)
	out, err := exec.Command(umbraBin, "route", "explain", "--config", cfg, "--json", "x@mx.partner.test", "y@else.test", "z@a.test").Output()
	var ex routeExplanation
	if err != nil || json.Unmarshal(out, &ex) != nil || len(ex.Routes) != 3 {
		t.Fatalf("%v\n%s", err, out)
	}
	for i, want := range []string{"send connector partner", "send connector wide", "the local mailbox store"} {
		if ex.Routes[i].Destination != want || len(ex.Routes[i].Reasons) == 0 {
			t.Errorf("%s: %+v, want %s", ex.Routes[i].Recipient, ex.Routes[i], want)
		}
	}
	if out, err := exec.Command(umbraBin, "route", "explain", "--config", cfg, "x@mx.partner.test").Output(); err != nil ||
		!strings.Contains(string(out), "most specific address space *.partner.test") {
		t.Errorf("text: %v\n%s", err, out)
	}
	// Without a topology there is one server to route as, this one: a
	// --server naming another (a misspelling) is refused, not ignored.
	cmd := exec.Command(umbraBin, "route", "explain", "--config", cfg, "--server", "mx.b.test", "x@mx.partner.test")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitNotFound || !strings.Contains(string(out), `"mx.b.test"`) || !strings.Contains(string(out), "mx.a.test") {
		t.Errorf("--server of another server without a topology: %v\n%s", err, out)
	}
	if out, err := exec.Command(umbraBin, "route", "explain", "--config", cfg, "--server", "mx.a.test", "x@mx.partner.test").Output(); err != nil {
		t.Errorf("--server naming this server: %v\n%s", err, out)
	}
}

// rt16b F6: route explain's help says which parts work offline and which
// ask the running daemon (the TLS policy's DANE and MTA-STS lookups,
// the check of the next hops against this server), instead of calling
// the whole command offline.
func TestRouteExplainHelpSaysWhatNeedsTheDaemon(t *testing.T) {
	for _, args := range [][]string{{"route", "explain", "--help"}, {"route", "--help"}} {
		out, err := exec.Command(umbraBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		s := string(out)
		if strings.Contains(s, "(offline)") || !strings.Contains(s, "ask the running daemon") {
			t.Errorf("%v says the whole command is offline, or not what asks the daemon:\n%s", args, s)
		}
	}
	out, _ := exec.Command(umbraBin, "route", "explain", "--help").CombinedOutput()
	for _, w := range []string{"tls policy:", "this server:", "--socket"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("route explain --help does not name %q:\n%s", w, out)
		}
	}
}
