package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// OPS-3: a byte that is not UTF-8 is shown \xNN wherever
// it stands in a config error line. quotedAsIs keeps every segment
// strconv.QuotedPrefix accepts "as it is", but QuotedPrefix accepts a
// raw byte that is not UTF-8 (and a raw control character) between two
// double quotes, so a name holding `"` around such a byte — a link
// target read from the file system — reaches the operator raw, while
// before the change the line's every invalid byte was written \xNN.
func TestOPS3ConfigTextQuotedLookalikeKeepsNoRawByte(t *testing.T) {
	line := `/etc/umbra.yaml:4: tracking.path: /var/log/t is a symbolic link (to /tmp/"` + "\xe9" + `")`
	got := configText(line)
	if !utf8.ValidString(got) {
		t.Errorf("configText left a raw byte 0xE9 (not UTF-8) in %q", got)
	}
}

func TestOPS3ConfigCheckQuotedLookalikeByteEscaped(t *testing.T) {
	dir := t.TempDir()
	textDir := filepath.Join(dir, "d")
	os.Mkdir(textDir, 0o755)
	byteFile := filepath.Join(dir, "\"\xe9\"") // a name: quote, the byte 0xE9, quote
	os.WriteFile(byteFile, nil, 0o600)
	if err := os.Symlink(byteFile, filepath.Join(textDir, "tracking.log")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.bytes.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
tracking: {path: '`+filepath.Join(textDir, "tracking.log")+`'}
`+submitConnector("in", addr44k(t, "127.0.0.214"))), 0o600)
	out, _, code := runBounded(t, "config", "check", cfg)
	if code != exitConfig || !strings.Contains(out, "symbolic link") {
		t.Fatalf("config check: exit %d, want %d and the link refused:\n%s", code, exitConfig, out)
	}
	_ = out
	_, js, _ := runBounded(t, "config", "check", "--json", cfg)
	var res configCheckResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatal(err)
	}
	errs := strings.Join(res.Errors, "\n")
	if !strings.Contains(errs, `"\xe9"`) {
		t.Errorf("config check --json: the byte 0xE9 of a link target between two quotes is not shown \\xe9 (README's byte rule), errors:\n%q", errs)
	}
}

// A file name holding one `"` pairs with the opening quote of the
// loader's %q value after it: the value's own \x00 (the escape of a NUL
// byte) then falls between segments and is doubled by TextBytes, reading
// as the text \x00 — the mistake configText was written to end.
func TestOPS3ConfigTextUnbalancedQuoteInFileNameKeepsValueEscape(t *testing.T) {
	line := `/etc/umbra/a"b.yaml:3: server.name ` + strconv.Quote("x\x00y") + ` is not a host name`
	got := configText(line, `/etc/umbra/a"b.yaml`) // its file name, as every caller gives it
	if strings.Contains(got, `\\x00`) {
		t.Errorf("configText(%q) = %q: the value's \\x00 (a NUL byte) now reads as the text \\x00", line, got)
	}
}
