package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// OPS-1 (rr41): decodeAll over any text — aliases in quoted text, block
// scalars, comments and flow mappings, files that are a list, a value or
// nothing (rt41 F2, F3) — never panics; the alias error is given only for
// a file YAML itself refuses, for a name the text holds, at a line the
// file has.
func FuzzDecodeAllAliases(f *testing.F) {
	for _, s := range []string{
		"server: *nope\n",
		"server: {name: *nope}\n",
		"a: \"*nope\"\nb: *nope\n",
		"a: |\n  *nope here\nb: *nope\n",
		"a: >\n  text\n# *nope\nb: [x, *nope]\n",
		"a: 'it''s *nope'\nb: *nope\n",
		"- a\n- b\n",
		"null\n",
		"42\n",
		"x: &a {b: 1}\ny: *a\n",
		"*nope\n",
		"a: \"\\\"*nope\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		var cfg Config
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _, err = decodeAll(data, "fuzz.yaml", &cfg)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("decodeAll still reading after 5s: %q", data)
		}
		var es Errors
		if !errors.As(err, &es) {
			return
		}
		var n yaml.Node
		valid := yaml.Unmarshal(data, &n) == nil
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range es {
			if !strings.HasPrefix(e.Msg, "the alias *") {
				continue
			}
			if valid {
				t.Errorf("a file YAML reads refused as an alias without an anchor: %q: %s", data, e.Msg)
			}
			if e.Line < 0 || e.Line > lines {
				t.Errorf("alias error at line %d of a %d-line file", e.Line, lines)
			}
		}
	})
}
