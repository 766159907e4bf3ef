package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRT11CopiesLeaveOutRecipientsRCPTRefuses (RT-6, RT-11; rt39 F6):
// route explain's copies (delayed fan-out) hold only the recipients RCPT
// takes: one it refuses (550 5.1.1, unknown) is in no message, so in no
// copy — said under the copies, and in --json's copies_left_out.
func TestRT11CopiesLeaveOutRecipientsRCPTRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	topo, err := filepath.Abs("../../configs/topology/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte(`server:
  name: hub1.chicago.corp.example.com
  role: hub
  data_dir: `+filepath.Join(dir, "data")+`
  address_translated: true
topology: `+topo+`
accepted_domains:
  - {domain: corp.example.com, type: authoritative}
  - {domain: "*.ie.corp.example.com", type: authoritative}
receive_connectors:
  - {name: default, bindings: ["127.0.0.141:8030"]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "alice@corp.example.com", "zed@corp.example.com", "x@remote.test"}
	out, errOut, code := routeExplain(t, args...)
	if code != 0 || !strings.HasPrefix(rcptLine(out, "zed@corp.example.com"), "550 5.1.1") {
		t.Fatalf("route explain: exit %d, zed's rcpt %q\n%s%s", code, rcptLine(out, "zed@corp.example.com"), out, errOut)
	}
	_, copies, _ := strings.Cut(out, "copies (delayed fan-out")
	if !strings.Contains(copies, "copy 1: alice@corp.example.com\n") || strings.Contains(copies, "copy 1: alice@corp.example.com, zed") ||
		!strings.Contains(copies, "in no copy: zed@corp.example.com (RCPT refuses it: 550 5.1.1") {
		t.Errorf("copies section:\n%s\nwant zed left out of copy 1, and said so", copies)
	}
	jout, _, _ := routeExplain(t, append([]string{"--json"}, args...)...)
	var ex routeExplanation
	if err := json.Unmarshal([]byte(jout), &ex); err != nil {
		t.Fatalf("%v\n%s", err, jout)
	}
	for _, c := range ex.Copies {
		for _, r := range c.Recipients {
			if r == "zed@corp.example.com" {
				t.Errorf("--json: zed in a copy: %+v", ex.Copies)
			}
		}
	}
	if strings.Join(ex.CopiesLeftOut, ",") != "zed@corp.example.com" {
		t.Errorf("--json copies_left_out %q, want zed@corp.example.com", ex.CopiesLeftOut)
	}
}
