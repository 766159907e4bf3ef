package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rt31c F2): a newline inside a configured path was printed raw
// by config check and serve, so a path could forge a line such as
// "hub.yaml: ok (…)", and --json split one error into several entries.
// Every path in every error is written by the configuration's text rule
// (TestOPS3ConfigErrorShowsAControlCharacterOnce): quoted as Go quotes a
// value, its newline \n, on the one line of its error.
func TestOPS3ConfigPathWithANewlineForgesNoLine(t *testing.T) {
	dir := t.TempDir()
	afile := filepath.Join(dir, "afile")
	os.WriteFile(afile, nil, 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server:
  name: hub.ops3.test
  data_dir: "`+afile+`/d\nFAKE1: forged"
  metrics_listen: ""
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: ["127.0.0.140:9011"]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: "`+dir+`/nofile\nFAKE3: forged", allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
mailbox: {maildir: "`+afile+`/m\nFAKE2: forged"}
recipients: {file: "`+dir+`/norcpt\nFAKE4: forged"}
pickup: {directory: "`+afile+`/p\nFAKE5: forged"}
tracking: {path: "`+afile+`/t\nFAKE6: forged"}
`), 0o600)
	forged := func(what, out string) {
		t.Helper()
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "FAKE") {
				t.Errorf("%s: a configured path's newline forged the line %q:\n%s", what, l, out)
				return
			}
		}
		for _, n := range []string{"1", "2", "3", "4", "5", "6"} {
			if what == "serve" && n >= "3" && n <= "4" && !strings.Contains(out, "FAKE"+n) {
				continue // serve stops at the directories it would make
			}
			if !strings.Contains(out, `\nFAKE`+n+`: forged"`) || strings.Contains(out, `\\nFAKE`+n) {
				t.Errorf("%s: the path with FAKE%s not shown quoted (\"…\\nFAKE%s: forged\"):\n%s", what, n, n, out)
			}
		}
	}
	out, _, code := runBounded(t, "config", "check", cfg)
	if code != exitConfig {
		t.Errorf("config check: exit %d", code)
	}
	forged("config check", out)
	_, js, _ := runBounded(t, "config", "check", "--json", cfg)
	var res configCheckResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("config check --json: %v\n%s", err, js)
	}
	forged("config check --json", strings.Join(res.Errors, "\n"))
	out, _, code = runBounded(t, "serve", "-c", cfg)
	if code != exitConfig {
		t.Errorf("serve: exit %d", code)
	}
	forged("serve", out)
}
