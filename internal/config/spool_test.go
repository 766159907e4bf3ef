package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// transport.spool_threshold and max_header_size have their defaults, take
// sizes, and a header limit under 1 KiB is refused with its file and line.
func TestSpoolConfig(t *testing.T) {
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
	c, err := load(t, "  max_hop_count: 60\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Transport.SpoolThreshold != DefaultSpoolThreshold || c.Transport.MaxHeaderSize != DefaultMaxHeaderSize {
		t.Errorf("defaults: %d %d", c.Transport.SpoolThreshold, c.Transport.MaxHeaderSize)
	}
	c, err = load(t, "  spool_threshold: 1MiB\n  max_header_size: 64KiB\n")
	if err != nil || c.Transport.SpoolThreshold != 1<<20 || c.Transport.MaxHeaderSize != 64<<10 {
		t.Errorf("explicit: %v %+v", err, c)
	}
	for keys, want := range map[string]string{
		"  spool_threshold: -1\n":  "umbra.yaml:4: invalid size",
		"  max_header_size: 100\n": "umbra.yaml:4: transport.max_header_size must be at least 1KiB",
	} {
		if _, err := load(t, keys); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", keys, err, want)
		}
	}
}
