package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt33c F9): config check reported in stages — a missing or
// faulty topology only once a missing receive connector was fixed, of a
// topology with two faults only the first — and printed an unlabelled
// "open nosuch.yaml: no such file or directory" after the topology's
// own line. Every independent error comes in one run, each at its file
// and line, and no line without one.
func TestOPS3ConfigCheckReportsEveryErrorAtOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("two.yaml", "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n    colour: red\n"+
		"servers:\n  - {name: x, role: hub, site: s1, address: \"10.0.0.1:25\", version: 2}\n"+
		"  - {name: y, role: hubb, site: s1, address: \"10.0.0.2:25\", version: 2}\n")
	conn := "receive_connectors:\n  - name: a\n    bindings: [\"127.0.0.176:13177\"]\n"
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"noconn-missing.yaml", "server:\n  name: x\ntopology: nosuch.yaml\n",
			[]string{"noconn-missing.yaml:1: at least one receive connector", "noconn-missing.yaml:3: topology ", "nosuch.yaml: no such file"}},
		{"noconn-two.yaml", "server:\n  name: x\ntopology: two.yaml\n",
			[]string{"noconn-two.yaml:1: at least one receive connector", "two.yaml:4: unknown key \"colour\"", "two.yaml:7: server role"}},
		{"missing.yaml", "server:\n  name: x\n  data_dir: d\n" + conn + "topology: nosuch.yaml\n",
			[]string{"missing.yaml:7: topology ", "nosuch.yaml: no such file"}},
		{"two-faults.yaml", "server:\n  name: x\n  data_dir: d\n" + conn + "topology: two.yaml\n",
			[]string{"two.yaml:4: unknown key \"colour\"", "two.yaml:7: server role"}},
	} {
		cmd := exec.Command(umbraBin, "config", "check", write(tc.name, tc.text))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		ee, _ := err.(*exec.ExitError)
		if ee == nil || ee.ExitCode() != 2 {
			t.Errorf("%s: %v\n%s\nwant exit 2", tc.name, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, out)
			}
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasPrefix(l, "umbra: ") && !strings.Contains(l, ".yaml:") {
				t.Errorf("%s: a line without its file and line: %q", tc.name, l)
			}
		}
	}
}
