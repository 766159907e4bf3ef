package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/admin"
)

// OPS-3: errorText (main.go's --json refusal) applies
// jsonsafe.TextBytes to every error that is not the loader's, but many
// errors are in the text form already: a name shown by queue.QuoteShown
// (queue.UnknownNameError, the CLI's own filter check) and every
// refusal the daemon sends (admin.APIError.Msg, written by the API's
// text rule). TextBytes is not idempotent — it doubles the backslash of
// a \xNN — so the JSON object says "a\\xffb" where standard error (and
// the same command once did) says "a\xffb".
func TestOPS3JSONRefusalEscapesANameOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.ops3.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: ""}
`), 0o600)
	cmd := exec.Command(umbraBin, "--config", cfg, "queue", "list", "--filter", "status=a\xffb", "--json")
	cmd.Env = append(os.Environ(), "UMBRA_SOCKET=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	var res struct {
		Error string `json:"error"`
		Exit  int    `json:"exit"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Exit == 0 {
		t.Fatalf("queue list --filter status=a\\xffb --json: %v\n%s", err, out)
	}
	if !strings.Contains(stderr.String(), `"a\xffb"`) {
		t.Errorf("stderr %q: want the name shown \"a\\xffb\"", stderr.String())
	}
	if !strings.Contains(res.Error, `"a\xffb"`) || strings.Contains(res.Error, `\\x`) {
		t.Errorf("JSON error %q: want the name shown \"a\\xffb\" escaped once, as stderr shows it", res.Error)
	}
}

// The same for a daemon's refusal relayed by the client: its text is
// the API's (TextBytes applied by the daemon), and errorText escapes it
// a second time.
func TestOPS3ErrorTextOfADaemonRefusalEscapesOnce(t *testing.T) {
	msg := `no queue "smarthost:a\xffb"; valid: smarthost:sink` // as the daemon's failShown sends it
	if got := errorText(&exitError{code: 1, err: &admin.APIError{Status: 404, Msg: msg}}); got != msg {
		t.Errorf("errorText of the daemon's refusal: %q, want it as the daemon wrote it: %q", got, msg)
	}
}
