package config

import (
	"strconv"
	"strings"
	"testing"
)

// OPS config (rrops40, the sibling of opsrt40 F2/F3 in the
// configuration file): a key whose default is set before decoding
// (newWithPresets, a type's UnmarshalYAML) kept that default silently
// when written as an empty value — `~`, `null` or nothing after the
// colon — while "" was refused. Neither is a setting of its own (README:
// "A zero or empty value is never silently replaced by the default"):
// each form is refused at its line, naming the key and the default
// that leaving it out gives.
func TestOPSEmptyValueOfPresetKeyRefusedAtItsLine(t *testing.T) {
	const dnsbl = "{dnsbl: {lists: [{zone: bl.example.test}]}}"
	for _, tc := range []struct {
		name, old, new, key string
	}{
		{"dnsbl.action", dnsbl, "{dnsbl: {action: VALUE, lists: [{zone: bl.example.test}]}}", "dnsbl.action"},
		{"dnsbl.lists[].kind", dnsbl, "{dnsbl: {lists: [{zone: bl.example.test, kind: VALUE}]}}", "kind"},
		{"shadow_on_receipt", "    milters:", "    shadow_on_receipt: VALUE\n    milters:", "shadow_on_receipt"},
	} {
		for _, v := range []string{"~", "null", `""`} {
			doc := strings.Replace(zeroSweepBase, tc.old, strings.Replace(tc.new, "VALUE", v, 1), 1)
			line := 0
			for i, l := range strings.Split(doc, "\n") {
				if strings.Contains(l, v) {
					line = i + 1
				}
			}
			_, err := Parse([]byte(doc), "z.yaml")
			if err == nil || !strings.Contains(err.Error(), "z.yaml:"+strconv.Itoa(line)+":") || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("%s: %s: %v; want refused at line %d naming the key", tc.name, v, err, line)
			}
		}
	}
}
