package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// transport.quarantine.max_size defaults to 2 GiB, keeps an explicit 0
// (no bound), and a negative bound is refused with its file and line.
func TestQuarantineBoundConfig(t *testing.T) {
	const head = "server:\n  name: a.example.test\ntransport:\n  quarantine:\n"
	const tail = "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	load := func(t *testing.T, keys string) (*Config, error) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "umbra.yaml")
		if err := os.WriteFile(f, []byte(head+keys+tail), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(f)
	}
	c, err := load(t, "    expiration: 15d\n")
	if err != nil {
		t.Fatal(err)
	}
	if q := c.Transport.Quarantine; q.MaxSize != DefaultQuarantineMaxSize || q.MaxMessages != 0 {
		t.Errorf("defaults: %+v", q)
	}
	c, err = load(t, "    max_size: 0\n    max_messages: 1000\n")
	if err != nil {
		t.Fatal(err)
	}
	if q := c.Transport.Quarantine; q.MaxSize != 0 || q.MaxMessages != 1000 {
		t.Errorf("explicit 0 and a count: %+v", q)
	}
	c, err = load(t, "    max_size: 64MiB\n")
	if err != nil || c.Transport.Quarantine.MaxSize != 64<<20 {
		t.Errorf("64MiB: %v %+v", err, c)
	}
	for keys, want := range map[string]string{
		"    max_size: -1\n":                         "umbra.yaml:5: transport.quarantine.max_size: invalid size \"-1\"", // the size parser refuses it
		"    expiration: 1d\n    max_messages: -5\n": "umbra.yaml:6: transport.quarantine.max_messages -5 is outside its range",
	} {
		if _, err := load(t, keys); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", keys, err, want)
		}
	}
}
