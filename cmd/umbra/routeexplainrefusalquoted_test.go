package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RT-11, OPS-3 (rr33): route explain's refusal of an address (and of an
// unknown --server) names the value as given, escaped once: the text
// \xe9 an operator typed reads \\xe9, apart from the byte 0xe9 (\xe9).
// The value was written raw between double quotes ("%s"), which the
// refusal's writer then kept as Go's %q output (quotedAsIs: escaped
// once already) — so the text \xe9 was not escaped at all, and read as
// the byte.
func TestRouteExplainRefusalNamesTheTextApartFromTheByte(t *testing.T) {
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
    bindings: ["127.0.0.212:15214"]
    permissions: {anonymous: [submit]}
mailbox:
  maildir: maildir
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args       []string
		text, byte string // the value as the text \xe9, as the byte 0xe9
	}{
		{[]string{`a\xe9`}, `"a\\xe9" is not an address`, `"a\xe9" is not an address`},
		{[]string{"--server", `h\xe9`, "x@example.test"}, `server "h\\xe9": without a topology`, `server "h\xe9": without a topology`},
	} {
		byteArgs := make([]string, len(c.args))
		for i, a := range c.args {
			byteArgs[i] = strings.ReplaceAll(a, `\xe9`, "\xe9")
		}
		_, textErr, _ := umbraIn(t, dir, nil, append([]string{"route", "explain", "--config", p}, c.args...)...)
		_, byteErr, _ := umbraIn(t, dir, nil, append([]string{"route", "explain", "--config", p}, byteArgs...)...)
		if !strings.Contains(textErr, c.text) {
			t.Errorf("route explain %q: want %s on stderr:\n%s", c.args, c.text, textErr)
		}
		if !strings.Contains(byteErr, c.byte) {
			t.Errorf("route explain %q: want %s on stderr:\n%s", byteArgs, c.byte, byteErr)
		}
	}
}
