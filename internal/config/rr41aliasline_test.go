package config

import (
	"errors"
	"testing"
)

// OPS-1 (rr41, of rt41 F2): the alias that names no anchor is reported at
// its own line — not at an earlier "*name" that is text: in a block
// scalar (| or >) or in a plain value after another word.
func TestAliasWithoutAnchorAtItsLineNotText(t *testing.T) {
	for _, c := range []struct {
		text string
		line int
	}{
		{"server:\n  name: |\n    see *nope here\n  role: *nope\n", 4},
		{"server:\n  name: >-\n    *nope\n\n    more\n  role: [hub, *nope]\n", 6},
		{"server:\n  name: a *nope b\n  role: *nope\n", 3},
		{"server:\n  name: \"*nope\"\n  role: {x: *nope}\n", 3},
		{"server:\n  - *nope\n", 2},
	} {
		var cfg Config
		_, _, err := decodeAll([]byte(c.text), "f.yaml", &cfg)
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if es[0].Line != c.line {
			t.Errorf("%q: at line %d, want %d: %s", c.text, es[0].Line, c.line, es[0].Msg)
		}
	}
}
