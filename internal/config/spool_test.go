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
		"  spool_threshold: -1\n":  "umbra.yaml:4: transport.spool_threshold: invalid size",
		"  max_header_size: 100\n": "umbra.yaml:4: transport.max_header_size 100 bytes is below 16KiB",
	} {
		if _, err := load(t, keys); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", keys, err, want)
		}
	}
}

// transport.body_memory_limit defaults to what every connector's
// sessions could hold in memory at once, capped, and takes a size.
func TestBodyMemoryLimitConfig(t *testing.T) {
	load := func(t *testing.T, transport, conns string) *Config {
		t.Helper()
		f := filepath.Join(t.TempDir(), "umbra.yaml")
		y := "server:\n  name: a.example.test\ntransport:\n  max_hop_count: 60\n" + transport + "receive_connectors:\n" + conns
		if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	small := "  - name: x\n    bindings: [\"127.0.0.1:25\"]\n    limits: {max_connections: 10, max_message_size: 100KiB}\n" +
		"  - name: y\n    bindings: [\"127.0.0.1:587\"]\n    limits: {max_connections: 20}\n"
	if got, want := load(t, "", small).Transport.BodyMemoryLimit, Size(10*100<<10+20*DefaultSpoolThreshold); got != want {
		t.Errorf("derived: %d, want %d", got, want)
	}
	def := "  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	if got := load(t, "", def).Transport.BodyMemoryLimit; got != DefaultBodyMemoryCeiling {
		t.Errorf("default connector (5000 sessions): %d, want the ceiling %d", got, DefaultBodyMemoryCeiling)
	}
	if got := load(t, "  body_memory_limit: 8MiB\n", def).Transport.BodyMemoryLimit; got != 8<<20 {
		t.Errorf("explicit: %d", got)
	}
}

// transport.space_reserve: without the key 16MiB; a written 0 is a
// setting of its own, no reserve (the README's zeros with a meaning),
// kept as 0 — not refused, not replaced by the default — so an operator
// can turn the reserve off.
func TestSpaceReserveZeroTurnsItOff(t *testing.T) {
	const head = "server:\n  name: a.example.test\ntransport:\n"
	const tail = "receive_connectors:\n  - name: x\n    bindings: [\"127.0.0.1:25\"]\n"
	for keys, want := range map[string]Size{
		"  max_hop_count: 60\n":   DefaultSpaceReserve,
		"  space_reserve: 0\n":    0,
		"  space_reserve: 1MiB\n": 1 << 20,
	} {
		f := filepath.Join(t.TempDir(), "umbra.yaml")
		if err := os.WriteFile(f, []byte(head+keys+tail), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(f)
		if err != nil {
			t.Errorf("%q: %v", keys, err)
			continue
		}
		if c.Transport.SpaceReserve != want {
			t.Errorf("%q: space_reserve %d, want %d", keys, c.Transport.SpaceReserve, want)
		}
	}
}
