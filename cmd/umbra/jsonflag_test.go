package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every command takes --json: also those that read files rather than
// ask the daemon (config check, db verify, version). A script parsing
// their output gets JSON with the verdict — not the text — and the same
// exit code.
func TestJSONOfOfflineCommands(t *testing.T) {
	dir := t.TempDir()
	good := relayConfig(t, dir, freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"))
	run := func(args ...string) (string, int) {
		t.Helper()
		out, err := exec.Command(umbraBin, append([]string{"--json"}, args...)...).Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	var v struct{ Version, Go string }
	if out, code := run("version"); code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Go == "" {
		t.Errorf("--json version: exit %d %q", code, out)
	}

	var res configCheckResult
	if out, code := run("config", "check", good); code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.OK ||
		res.Server != "hub.e2e.test" || len(res.Errors) != 0 {
		t.Errorf("--json config check of a good file: exit %d %q", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	b, _ := os.ReadFile(good)
	os.WriteFile(bad, []byte(strings.Replace(string(b), "retry_schedule: [1s]", "retry_schedule: [1x]", 1)), 0o600)
	res = configCheckResult{}
	if out, code := run("config", "check", bad); code != exitConfig || json.Unmarshal([]byte(out), &res) != nil || res.OK ||
		len(res.Errors) == 0 || !strings.HasPrefix(res.Errors[0], bad+":") {
		t.Errorf("--json config check of a bad file: exit %d %q", code, out)
	}

	notBackup := filepath.Join(dir, "not-a-backup.db")
	os.WriteFile(notBackup, []byte(strings.Repeat("x", 8192)), 0o600)
	var ver struct {
		File  string
		Sound bool
		Error string
	}
	if out, code := run("db", "verify", notBackup); code != exitFailure || json.Unmarshal([]byte(out), &ver) != nil || ver.Sound ||
		ver.File != notBackup || ver.Error == "" {
		t.Errorf("--json db verify of a file that is no backup: exit %d %q", code, out)
	}
}
