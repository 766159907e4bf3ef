package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// transport.result_commit_delay: 10ms by default, 0s means at once (an
// explicit zero is kept), and a value below 0 or over a minute is
// refused with its file and line.
func TestResultCommitDelayConfig(t *testing.T) {
	const head = "server:\n  name: a.example.test\ntransport:\n"
	const tail = "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	load := func(t *testing.T, keys string) (*Config, error) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "umbra.yaml")
		if err := os.WriteFile(f, []byte(head+keys+tail), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(f)
	}
	for keys, want := range map[string]time.Duration{
		"  max_hop_count: 60\n":         DefaultResultCommitDelay,
		"  result_commit_delay: 0s\n":   0,
		"  result_commit_delay: 50ms\n": 50 * time.Millisecond,
		"  result_commit_delay: 1m\n":   time.Minute,
	} {
		c, err := load(t, keys)
		if err != nil {
			t.Fatalf("%q: %v", keys, err)
		}
		if got := c.Transport.ResultCommitDelay.D(); got != want {
			t.Errorf("%q: %v, want %v", keys, got, want)
		}
	}
	for keys, want := range map[string]string{
		"  result_commit_delay: -1s\n": "umbra.yaml:4: transport.result_commit_delay: negative duration",
		"  result_commit_delay: 2m\n":  "umbra.yaml:4: transport.result_commit_delay must be between 0s and 1m0s",
	} {
		if _, err := load(t, keys); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", keys, err, want)
		}
	}
}
