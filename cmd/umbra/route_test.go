package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"umbra/internal/routing"
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
	var rs []routing.Route
	if err := json.Unmarshal([]byte(out), &rs); err != nil || code != 0 || len(rs) != 2 {
		t.Fatalf("explain --json: %d %v\n%s", code, err, out)
	}
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
