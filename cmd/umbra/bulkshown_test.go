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
// quarantine release/delete). The message commands count an id that
// names no message as not found (`ID: not found`, --json not_found[]),
// apart from a refusal, and exit 1 for it.
func TestBulkRefusalsNameIDsByTheRule(t *testing.T) {
	t.Parallel()
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
		line := ": failed: "
		if c[0] == "message" {
			line = ": not found"
		}
		for _, id := range []string{byteID, textID} {
			if !strings.Contains(out, "\n"+want[id]+line) && !strings.HasPrefix(out, want[id]+line) {
				t.Errorf("%s: %q, want a line %q", name, out, want[id]+line+"…")
			}
		}
		jout, _ := cli(t, cfg, append(append([]string{}, c...), "--json", byteID, textID)...)
		var res struct {
			Failed   []struct{ ID, Error string }
			NotFound []string `json:"not_found"`
		}
		if err := json.Unmarshal([]byte(jout), &res); err != nil {
			t.Fatalf("%s --json: %v\n%s", name, err, jout)
		}
		got := res.NotFound
		if c[0] != "message" {
			got = nil
			for _, f := range res.Failed {
				got = append(got, f.ID)
			}
		}
		if len(got) != 2 || got[0] != want[byteID] || got[1] != want[textID] || strings.Contains(jout, `\ufffd`) {
			t.Errorf("%s --json: ids %q, want %q %q\n%s", name, got, want[byteID], want[textID], jout)
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
