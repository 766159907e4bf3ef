package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: config check's errors name files by the one rule (README,
// Command line): a byte that is not UTF-8 shows \xNN and the text \xNN a
// name holds shows \\xNN, so the two never read alike — a directory
// named with the text `q\xe9` and a link target with the byte 0xE9 in
// one refusal show `q\\xe9` and `\xe9` — while a value the loader
// quoted (%q) keeps its own escapes once (configText).
func TestOPS3ConfigCheckByteAndTextDoNotReadAlike(t *testing.T) {
	dir := t.TempDir()
	textDir := filepath.Join(dir, `q\xe9`) // the text: a backslash, x, e, 9
	os.Mkdir(textDir, 0o755)
	byteFile := filepath.Join(dir, "\xe9") // the byte 0xE9
	os.WriteFile(byteFile, nil, 0o600)
	if err := os.Symlink(byteFile, filepath.Join(textDir, "tracking.log")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.bytes.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
tracking: {path: '`+filepath.Join(textDir, "tracking.log")+`'}
`+submitConnector("in", addr44k(t, "127.0.0.213"))), 0o600)
	out, _, code := runBounded(t, "config", "check", cfg)
	if code != exitConfig || !strings.Contains(out, "symbolic link") {
		t.Fatalf("config check: exit %d, want %d and the link refused:\n%s", code, exitConfig, out)
	}
	if !strings.Contains(out, `q\\xe9/tracking.log`) || !strings.Contains(out, `(to `+filepath.Join(dir, `\xe9`)+`)`) {
		t.Errorf("config check shows the text q\\xe9 and the byte 0xE9 alike (want q\\\\xe9 for the text, \\xe9 for the byte):\n%s", out)
	}
	_, js, _ := runBounded(t, "config", "check", "--json", cfg)
	var res configCheckResult
	if err := json.Unmarshal([]byte(js), &res); err != nil || !strings.Contains(strings.Join(res.Errors, "\n"), `q\\xe9/tracking.log`) {
		t.Errorf("config check --json: %v, errors %q: want the text shown q\\\\xe9", err, res.Errors)
	}
}
