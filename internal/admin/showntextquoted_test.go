package admin

import (
	"fmt"
	"strings"
	"testing"
)

// OPS-3: a value a refusal quotes as Go's %q writes it (the byte 0xe9
// as \xe9) is escaped once already: ShownText keeps such a segment as it
// is, with or without a name to show in the text, so that no refusal
// written through it — the client's own (Client.shown), an answer
// without umbra's error text (bareText), the CLI's (cmd/umbra
// shownError: --owner's "no user %q") — doubles its backslash (\\xe9,
// the text of the escape).
func TestOPS3ShownTextKeepsGoQuotedOnce(t *testing.T) {
	for _, value := range []string{"bad\xe9user", "a\x1bb", `text\xe9`} {
		q := fmt.Sprintf("%q", value)
		for _, names := range [][]string{nil, {"/run/umbra/ad\nmin.sock"}, {"/tmp/plain.sock"}} {
			text := "--owner " + value + ": no user " + q + " on this machine (socket " + strings.Join(names, "") + ")"
			got := ShownText(text, names...)
			if !strings.Contains(got, "no user "+q+" on this machine") {
				t.Errorf("ShownText(%q, %q) = %q: the %%q segment %s is not kept as it is", text, names, got, q)
			}
		}
	}
	// The error form the client's refusals take (Client.shown).
	c := &Client{path: "/run/umbra/ad\x1bmin.sock"}
	err := c.shown(fmt.Errorf("the admin socket %s: no user %q", c.path, "bad\xe9user"))
	if s := err.Error(); !strings.Contains(s, `no user "bad\xe9user"`) || strings.Contains(s, `\\xe9`) || strings.Contains(s, "\x1b") {
		t.Errorf("the client's refusal does not name the quoted value once: %s", s)
	}
}
