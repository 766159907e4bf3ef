package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// OPS-1 (opsrt43 O4): a value written as an alias (*n) that is wrong
// where it is used is reported at the alias's line — the line to fix —
// not at its anchor's (&n), which is right where it stands: a list
// expected, a single value expected, a duration that does not parse,
// an alias as a list element.
func TestAliasValueErrorAtTheAliasLine(t *testing.T) {
	for _, c := range []struct {
		text string
		line int
	}{
		{"server:\n  name: &n hub.rt.test\nreceive_connectors:\n  - name: a\n    bindings: *n\n", 5},
		{"server:\n  name: &n hub.rt.test\ntransport:\n  retry_schedule: *n\n", 4},
		{"transport:\n  retry_schedule: &l [1m]\nserver:\n  name: *l\n", 4},
		{"server:\n  name: &d 5 parsecs\ntransport:\n  message_expiration: *d\n", 4},
		{"server:\n  name: &d 5 parsecs\ntransport:\n  retry_schedule: [1m, *d]\n", 4},
	} {
		var cfg Config
		_, left, err := decodeAll([]byte(c.text), "f.yaml", &cfg)
		var es Errors
		if !errors.As(err, &es) {
			es = left.errs
		}
		if len(es) == 0 {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if es[0].Line != c.line {
			t.Errorf("%q: at line %d, want %d: %s", c.text, es[0].Line, c.line, es[0].Msg)
		}
	}
}

// OPS-1 (opsrt43 O4): the topology file named through an alias is the
// one TopologyOf finds (config check's topology errors are said at its
// line), at the alias's line — not none, as when only a plain value
// was read.
func TestTopologyOfAnAlias(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "umbra.yaml")
	if err := os.WriteFile(p, []byte("server:\n  name: &t topo.yaml\ntopology: *t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, line := TopologyOf(p)
	if file != filepath.Join(dir, "topo.yaml") || line != 3 {
		t.Errorf("TopologyOf = %q, %d; want %q at line 3", file, line, filepath.Join(dir, "topo.yaml"))
	}
}
