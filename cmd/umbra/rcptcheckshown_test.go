package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RT-11, OPS-3: route explain names each address escaped once, as every
// other operator text does: in --json by the one rule (jsonsafe.TextBytes:
// the byte 0xe9 as \xe9, not U+FFFD, which hides which byte it was), in
// text as a table field (termSafe: the text \u001b an address holds reads
// \\u001b, apart from the character ESC, \u001b) — the refused address
// (RCPT's reply, no route) and the routed one alike.
func TestRT11RouteExplainAddressShownOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte(`server:
  name: hub.test
  data_dir: `+filepath.Join(dir, "data")+`
accepted_domains:
  - domain: example.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: local
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
mailbox:
  maildir: maildir
`), 0o600); err != nil {
		t.Fatal(err)
	}
	routed := `"a\\u001b"@example.test` // routed: the text \u001b in a quoted local part
	text := `a\u001b@example.test`      // refused: the text \u001b, no ESC
	refused := "\"q\xe9\"@example.test" // refused: a byte that is not UTF-8
	control := "b\x1b[31m@example.test" // refused: ESC
	args := []string{"route", "explain", "--config", p, routed, text, refused, control}
	out, errOut, code := umbraIn(t, dir, nil, append(args, "--json")...)
	if code != exitUsage {
		t.Fatalf("route explain --json: exit %d, want %d:\n%s%s", code, exitUsage, out, errOut)
	}
	var ex struct {
		Routes     []struct{ Recipient string }
		Recipients []struct{ Address string }
	}
	if err := json.Unmarshal([]byte(out), &ex); err != nil || len(ex.Routes) != 4 || len(ex.Recipients) != 4 {
		t.Fatalf("route explain --json: %v:\n%s", err, out)
	}
	for i, want := range []string{routed, text, `"q\xe9"@example.test`, "b\x1b[31m@example.test"} {
		if ex.Routes[i].Recipient != want || ex.Recipients[i].Address != want {
			t.Errorf("--json names address %d as %q (route) and %q (rcpt), want %q", i, ex.Routes[i].Recipient, ex.Recipients[i].Address, want)
		}
	}
	out, errOut, code = umbraIn(t, dir, nil, args...)
	if code != exitUsage {
		t.Fatalf("route explain: exit %d, want %d:\n%s%s", code, exitUsage, out, errOut)
	}
	for _, want := range []string{`"a\\\\u001b"@example.test (from`, `a\\u001b@example.test (from`, `"q\xe9"@example.test (from`, `b\u001b[31m@example.test (from`} {
		if !strings.Contains(out, "\n"+want) {
			t.Errorf("the text does not name an address as %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\ufffd") {
		t.Errorf("the text holds ESC or U+FFFD:\n%s", out)
	}
}
