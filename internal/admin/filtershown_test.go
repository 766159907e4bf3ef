package admin

import (
	"net/url"
	"testing"
)

// A filter value is taken as the CLI shows it (rt41 F11), as umbra
// track takes one: \u001b is the character ESC, \\u001b the text
// \u001b, \xe9 the byte 0xe9, \\xe9 the text \xe9; the value then
// matches the sender or recipient stored raw. A raw byte is taken as it
// is. message list/remove --from/--to and the console's /messages
// filter fields (filterOf), dumpster remove's --from, --to,
// --message-id and --org-id (selectionOf).
func TestFiltersTakeValuesAsShown(t *testing.T) {
	for shown, raw := range map[string]string{
		`a\u001b@x`:  "a\x1b@x",
		`a\\u001b@x`: `a\u001b@x`,
		`caf\xe9`:    "caf\xe9",
		`caf\\xe9`:   `caf\xe9`,
		"caf\xe9":    "caf\xe9",
		`t\tab`:      "t\tab",
		"plain@x":    "plain@x",
	} {
		v := url.Values{"from": {shown}, "to": {shown}, "message_id": {shown}, "org_id": {shown}, "database": {"d"}}
		f, err := filterOf(v)
		if err != nil || f.From != raw || f.To != raw {
			t.Errorf("filterOf %q: from %q to %q %v, want %q", shown, f.From, f.To, err, raw)
		}
		sel := selectionOf(v)
		if sel.From != raw || sel.To != raw || sel.MessageID != raw || sel.OrgID != raw || sel.Database != "d" {
			t.Errorf("selectionOf %q: %+v, want %q", shown, sel, raw)
		}
	}
}
