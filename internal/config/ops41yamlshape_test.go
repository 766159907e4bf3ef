package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: every error of a YAML file umbra reads names its file and line.
// An alias that names no anchor is refused by yaml.v3 without a line
// (rt41 F2): umbra finds the alias in the text. The configuration and
// the topology (both decoded by decodeAll), and the topology server
// check of serve/SIGHUP (decodeStrict), alike.
func TestOPSUnknownAnchorNamesItsLine(t *testing.T) {
	cfg := "server:\n  name: h1.ops.test\n  # an alias in a comment: *nope\n  role: *nope\n"
	topo := "sites:\n  - {name: s1, subnets: [\"10.1.0.0/16\"]}\nsite_links:\n  - {name: l1, sites: [s1, s1], cost: *zz}\n"
	flow := "server: {name: h1.ops.test, role: [hub, *nope]}\n"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"config", parseErr(Parse([]byte(cfg), "cfg/unkanchor.yaml")), "cfg/unkanchor.yaml:4: "},
		{"config flow", parseErr(Parse([]byte(flow), "cfg/flow.yaml")), "cfg/flow.yaml:1: "},
		{"topology", parseErr(ParseTopology([]byte(topo), "topo/ua.yaml")), "topo/ua.yaml:4: "},
	} {
		if tc.err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		msg := tc.err.Error()
		if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one error at %q", tc.name, msg, tc.want)
		}
		if strings.Contains(msg, "referenced") || !strings.Contains(msg, "anchor") {
			t.Errorf("%s: %q, want umbra's words about the anchor", tc.name, msg)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "topo.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckTopologyServer(path, "h1.ops.test", "hub", nil); err == nil || !strings.HasPrefix(err.Error(), path+":4: ") {
		t.Errorf("topology server check: %v, want it at line 4", err)
	}
}

// OPS-3: a file that is not a section of settings (a list, a scalar, a
// null, nothing but comments, nothing) is one error in umbra's words
// (rt41 F3: a list got ": a section … is expected" with a stray ": " and
// "cannot unmarshal !!seq into config.Config"), for every YAML file
// umbra reads.
func TestOPSFileNotASectionIsOneError(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"- a\n", "f.yaml:1: the file is a list"},
		{"[a, b]\n", "f.yaml:1: the file is a list"},
		{"a\n", "f.yaml:1: the file is a single value"},
		{"\"str\"\n", "f.yaml:1: the file is a single value"},
		{"null\n", "f.yaml: empty file: it holds no settings"},
		{"~\n", "f.yaml: empty file: it holds no settings"},
		{"", "f.yaml: empty file: it holds no settings"},
		{"# only a comment\n\n", "f.yaml: empty file: it holds no settings"},
	} {
		for kind, parse := range map[string]func() error{
			"configuration": func() error { return parseErr(Parse([]byte(tc.text), "f.yaml")) },
			"topology":      func() error { return parseErr(ParseTopology([]byte(tc.text), "f.yaml")) },
		} {
			err := parse()
			if err == nil {
				t.Errorf("%s %q: accepted", kind, tc.text)
				continue
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("%s %q: %q, want one error beginning %q", kind, tc.text, msg, tc.want)
			}
			for _, goWords := range []string{"!!", "unmarshal", "config.", ": : "} {
				if strings.Contains(msg, goWords) {
					t.Errorf("%s %q: %q has %q", kind, tc.text, msg, goWords)
				}
			}
		}
	}
}

func parseErr[T any](_ T, err error) error { return err }
