package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A bulk command names each id it could not act on as the one rule shows
// an operator's value: the byte 0xe9 as \xe9, the text \xe9 as \\xe9, in
// the text lines and in --json failed[].id (never U+FFFD), for every
// bulk command (message suspend/resume/remove/retry, their --dry-run,
// quarantine release/delete).
func TestBulkRefusalsNameIDsByTheRule(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	byteID, textID := "AB\xe9", `AB\xe9`
	want := map[string]string{byteID: `AB\xe9`, textID: `AB\\xe9`}
	cmds := [][]string{
		{"message", "suspend"}, {"message", "resume"}, {"message", "remove"}, {"message", "retry"},
		{"message", "remove", "--dry-run"}, {"message", "retry", "--dry-run"},
		{"queue", "quarantine", "release"}, {"queue", "quarantine", "delete"},
	}
	for _, c := range cmds {
		name := strings.Join(c, " ")
		out, code := cli(t, cfg, append(append([]string{}, c...), byteID, textID)...)
		if code == 0 {
			t.Errorf("%s: exit 0 for unknown ids", name)
		}
		for _, id := range []string{byteID, textID} {
			if !strings.Contains(out, "\n"+want[id]+": failed: ") && !strings.HasPrefix(out, want[id]+": failed: ") {
				t.Errorf("%s: %q, want a line %q", name, out, want[id]+": failed: …")
			}
		}
		jout, _ := cli(t, cfg, append(append([]string{}, c...), "--json", byteID, textID)...)
		var res struct {
			Failed []struct{ ID, Error string }
		}
		if err := json.Unmarshal([]byte(jout), &res); err != nil || len(res.Failed) != 2 {
			t.Fatalf("%s --json: %v\n%s", name, err, jout)
		}
		if res.Failed[0].ID != want[byteID] || res.Failed[1].ID != want[textID] || strings.Contains(jout, `\ufffd`) {
			t.Errorf("%s --json: failed ids %q %q, want %q %q", name, res.Failed[0].ID, res.Failed[1].ID, want[byteID], want[textID])
		}
	}
}

// The summary line of a bulk command's refusal names each failed id
// as its line does: a tab or newline in an id never splits the refusal
// (rt51 F11, rt53 R6).
func TestBulkSummaryEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	startUmbra(t, cfg, listen)
	for _, c := range [][]string{{"queue", "quarantine", "release"}, {"queue", "quarantine", "delete"}} {
		_, errOut, code := cliAll(t, cfg, append(c, "00000000000000\n1", "a\tb")...)
		if code == 0 || strings.Contains(errOut, "\t") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, a raw control character in the refusal: %q", c, code, errOut)
		}
	}
}
