package jsonsafe

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEscapeKeepsValidJSON(t *testing.T) {
	in := map[string]string{"k\u202e": "é \u0085 \U0001F600 \u00a0 \x7f \U000E0001 ok <&>"}
	b, _ := json.Marshal(in)
	out := Escape(b)
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["k\u202e"] != in["k\u202e"] {
		t.Fatalf("%s -> %v %v", out, back, err)
	}
	for _, keep := range []string{"é", "\U0001F600", "ok"} {
		if !strings.Contains(string(out), keep) {
			t.Errorf("%q escaped: %s", keep, out)
		}
	}
	for _, esc := range []string{`\u202e`, `\u0085`, `\u007f`, `\udb40\udc01`} {
		if !strings.Contains(string(out), esc) {
			t.Errorf("%s missing in %s", esc, out)
		}
	}
}
