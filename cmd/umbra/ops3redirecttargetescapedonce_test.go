package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// OPS-3: checkRedirectTarget says by its type (jsonsafe.Textf) that its
// text is in the text form (QuoteShown(to): a newline \x0a, a byte 0xe9
// \xe9); the daemon must answer it as it is, not run TextBytes over it
// again: the CLI (APIError, written as it is) would show \\x0a and
// \\xe9 — the value escaped twice, a byte read as text — on stderr and
// in --json.
func TestOPS3RedirectTargetEscapedOnce(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	startUmbra(t, cfg, listen)
	for bad, want := range map[string]string{
		"relay\nexample":   `redirect target "relay\x0aexample"`,
		"relay\xe9example": `redirect target "relay\xe9example"`,
	} {
		cmd := exec.Command(umbraBin, "--config", cfg, "queue", "redirect", "smarthost:sink", "--to", bad)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.Run()
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("queue redirect --to %q: stderr %q, want %q (escaped once)", bad, stderr.String(), want)
		}
		out, _ := exec.Command(umbraBin, "--config", cfg, "queue", "redirect", "smarthost:sink", "--to", bad, "--json").Output()
		var res struct{ Error string }
		json.Unmarshal(out, &res)
		if !strings.Contains(res.Error, want) {
			t.Errorf("queue redirect --to %q --json: error %q, want %q (escaped once)", bad, res.Error, want)
		}
	}
}
