package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3: a refusal that names a file raw (the os error of -c FILE) is
// not in the text form: escaping it idempotently leaves the text \xe9
// of the name as it is, so --json said "a\xe9.yaml" both for the file
// named with the text \xe9 and for the one named with the byte 0xe9 —
// the README's rule (the text \xe9 of a name given shows \\xe9, in text
// and --json) broken.
func TestOPS3JSONRefusalTellsATextEscapeFromTheByte(t *testing.T) {
	dir := t.TempDir()
	get := func(name string) string {
		cmd := exec.Command(umbraBin, "-c", filepath.Join(dir, name), "queue", "list", "--json")
		cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
		out, _ := cmd.Output()
		var res struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Error == "" {
			t.Fatalf("-c %q --json: %v\n%s", name, err, out)
		}
		return res.Error
	}
	text, raw := get(`a\xe9.yaml`), get("a\xe9.yaml")
	if text == raw {
		t.Errorf("--json error for a file named with the text \\xe9 and for one with the byte 0xe9 read the same: %q", text)
	}
}

// OPS-3: standard error tells them apart too (errorText, then textSafe:
// the text \xe9 of the name shows \\xe9, the byte \xe9), and a newline
// of the name given forges no line of it: the name of an os error is
// shown as every answer names a file given (a control character \x0a).
func TestOPS3RefusalOfAFileGivenShowsItsNameOnce(t *testing.T) {
	dir := t.TempDir()
	stderr := func(name string) string {
		cmd := exec.Command(umbraBin, "-c", filepath.Join(dir, name), "queue", "list")
		cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
		var b strings.Builder
		cmd.Stderr = &b
		cmd.Run()
		return b.String()
	}
	if text, raw := stderr(`a\xe9.yaml`), stderr("a\xe9.yaml"); !strings.Contains(text, `a\\xe9.yaml`) || !strings.Contains(raw, `a\xe9.yaml`) || strings.Contains(raw, `a\\xe9`) {
		t.Errorf("stderr for the text \\xe9 %q and for the byte 0xe9 %q: want a\\\\xe9.yaml and a\\xe9.yaml", text, raw)
	}
	out := stderr("a\nFAKE9: forged.yaml")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE9") {
			t.Errorf("-c with a newline in its name: the line %q forged:\n%s", l, out)
		}
	}
	if !strings.Contains(out, `a\x0aFAKE9: forged.yaml`) {
		t.Errorf("-c with a newline in its name: want it shown a\\x0aFAKE9, got:\n%s", out)
	}
}
