package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-3 (rr-opsrt38 F4): a recipients.file that cannot be read is
// refused at its line, and nothing is said that follows only from it: no
// "accepted domain … is validated by directory but no directory source
// lists an address of it … or set its recipient_validation: off" — the
// file may list them all; what it lists is not known until it reads.
// With a file that reads and lists none of the domain, that error
// stands. The shipped hub.yaml, its file missing, the same.
func TestOPS3UnreadableRecipientsFileAddsNoDerivedError(t *testing.T) {
	dir := t.TempDir()
	cfgText := func(file string) string {
		return "server:\n  name: hub.test\n  data_dir: " + filepath.Join(dir, "data") + "\n  metrics_listen: \"\"\n" +
			"accepted_domains:\n  - domain: corp.example.com\n    type: authoritative\n    recipient_validation: directory\n" +
			"receive_connectors:\n  - name: in\n    bindings: [\"127.0.0.122:8025\"]\n" +
			"recipients:\n  file: " + file + "\nmailbox:\n  maildir: maildir\n"
	}
	hub, err := os.ReadFile(filepath.Join("..", "..", "configs", "hub.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "other"), []byte("someone@other.example\n"), 0o600)
	for _, tc := range []struct {
		name, text string
		want, not  []string
	}{
		{"missing.yaml", cfgText("recipientz"), []string{"missing.yaml:13: recipients.file", "recipientz: no such file or directory"},
			[]string{"is validated by directory", "recipient_validation: off"}},
		{"hub.yaml", strings.Replace(string(hub), "/etc/umbra/recipients", filepath.Join(dir, "recipientz"), 1),
			[]string{"recipientz: no such file or directory"}, []string{"is validated by directory", "recipient_validation: off"}},
		// The file reads and lists nobody of the domain: said, at the file's line.
		{"other.yaml", cfgText("other"), []string{"other.yaml:13:", "lists no address of accepted domain \"corp.example.com\""}, nil},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(umbraBin, "config", "check", p)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if ee, _ := err.(*exec.ExitError); ee == nil || ee.ExitCode() != 2 {
			t.Errorf("%s: %v\n%s\nwant exit 2", tc.name, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(string(out), w) {
				t.Errorf("%s: %q, which follows only from the unreadable file, in\n%s", tc.name, w, out)
			}
		}
	}
}
