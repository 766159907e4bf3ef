package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: the README says config check names
// the file it was given by the text rule, "a control character of the
// name given (a tab, a newline, ESC) is written as its byte too", and
// the change writes an Error's file name through config.ShownPath; but
// config check's own summary ("FILE is not valid", config.go:95 and
// :117) and its success line ("FILE: ok", ~175) write the name raw
// (jsonsafe.TextBytes leaves a newline): a file name with a newline
// forges a line of config check's output.
func TestOPS3ConfigCheckFileNameWithANewlineForgesNoLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		banner string
		code   int
	}{{`"a\0b"`, exitConfig}, {`"hello"`, 0}} {
		cfg := filepath.Join(dir, "hub\nFAKE9: forged.yaml")
		os.WriteFile(cfg, []byte(`server: {name: hub.ops3.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: `+filepath.Join(dir, "md")+`}
`+submitConnector("in", "127.0.0.121:7121", "banner: "+c.banner)), 0o600)
		out, _, code := runBounded(t, "config", "check", cfg)
		if code != c.code {
			t.Errorf("config check (banner %s): exit %d, want %d:\n%s", c.banner, code, c.code, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "FAKE9") {
				t.Errorf("config check (banner %s): the file name's newline forged the line %q:\n%s", c.banner, l, out)
			}
		}
	}
}

// OPS-3: serve's refusal names its file on its summary line as config
// check does: a configuration file whose name holds a newline refused
// for its topology forges no line of serve's refusal either.
func TestOPS3ServeRefusalFileNameWithANewlineForgesNoLine(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topo.yaml")
	os.WriteFile(topo, []byte("servers: [\n"), 0o600)
	cfg := filepath.Join(dir, "hub\nFAKE9: forged.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.ops3.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: `+filepath.Join(dir, "md")+`}
topology: `+topo+`
`+submitConnector("in", "127.0.0.125:7125")), 0o600)
	for _, args := range [][]string{{"serve", "-c", cfg}, {"config", "check", cfg}} {
		out, _, code := runBounded(t, args...)
		if code != exitConfig {
			t.Errorf("%s: exit %d, want %d:\n%s", args[0], code, exitConfig, out)
		}
		if !strings.Contains(out, `hub\x0aFAKE9: forged.yaml: the topology`) {
			t.Errorf("%s: want the file named hub\\x0aFAKE9 on its summary line:\n%s", args[0], out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "FAKE9") {
				t.Errorf("%s: the file name's newline forged the line %q:\n%s", args[0], l, out)
			}
		}
	}
}
