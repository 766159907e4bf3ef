package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A control character of a file name given to db backup, db verify or
// message export -o is written as its byte (a\x09b), in success and
// refusal lines alike, as message show names an id (fixh19 item 5: a
// newline forged an output line; a tab and ESC went out raw).
func TestControlCharactersOfFileNamesShownAsBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	raw := func(s string) bool {
		return strings.ContainsAny(s, "\t\x1b") || strings.Count(strings.TrimSuffix(s, "\n"), "\n") > 0
	}
	for name, want := range map[string]string{"a\tb.db": `a\x09b.db`, "a\nb.db": `a\x0ab.db`, "a\x1bb.db": `a\x1bb.db`} {
		n := filepath.Join(dir, name)
		out, code := cli(t, cfg, "db", "backup", n)
		if code != 0 || !strings.Contains(out, want) || raw(out) {
			t.Errorf("db backup %q: exit %d %q, want %s", name, code, out, want)
		}
		_, errOut, code := cliAll(t, cfg, "db", "backup", n) // exists now: refused
		if code == 0 || !strings.Contains(errOut, want) || raw(errOut) {
			t.Errorf("db backup over %q: exit %d %q, want %s", name, code, errOut, want)
		}
		jout, code := cli(t, cfg, "db", "verify", "--json", n)
		var res struct{ File string }
		if code != 0 || json.Unmarshal([]byte(jout), &res) != nil || !strings.HasSuffix(res.File, want) {
			t.Errorf("db verify --json %q: exit %d %s, want %s", name, code, jout, want)
		}
		out, code = cli(t, cfg, "db", "verify", n)
		if code != 0 || !strings.Contains(out, want) || raw(out) {
			t.Errorf("db verify %q: exit %d %q, want %s", name, code, out, want)
		}
		os.Remove(n)
		_, errOut, code = cliAll(t, cfg, "db", "verify", n) // missing: refused
		if code == 0 || !strings.Contains(errOut, want) || raw(errOut) {
			t.Errorf("db verify of missing %q: exit %d %q, want %s", name, code, errOut, want)
		}
		_, errOut, code = cliAll(t, cfg, "message", "export", "0000000000000001", "-o", filepath.Join(dir, name, "x.eml"))
		if code == 0 || !strings.Contains(errOut, want) || raw(errOut) {
			t.Errorf("message export -o %q/x.eml: exit %d %q, want %s", name, code, errOut, want)
		}
	}
}
