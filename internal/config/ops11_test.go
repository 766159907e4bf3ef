package config

import (
	"strings"
	"testing"
)

// rt45 F3: a second YAML document after a "---" line was dropped without
// a word (even invalid YAML): config check said ok and a reload reported
// success. It is refused at the line of its "---", in the configuration
// and in the topology file.
func TestSecondDocumentRefused(t *testing.T) {
	base := "server: {name: a.example.test}\nreceive_connectors: [{name: x, bindings: [\"127.0.0.1:25\"]}]\n"
	for name, tc := range map[string]struct{ data, want string }{
		"valid second":     {base + "---\ntransport:\n  message_expiration: 5m\n", "c.yaml:3: a second YAML document begins here"},
		"invalid second":   {base + "# pasted\n---\ntransport:\n  message_expiration: 5m\nthis is: [not, valid yaml\n", "c.yaml:4: a second YAML document begins here"},
		"leading marker":   {"---\n" + base + "---\nx: 1\n", "c.yaml:4: a second YAML document begins here"},
		"after end marker": {base + "...\nx: 1\n", "c.yaml:4: a second YAML document begins here"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
	// One document opened by "---" and closed by "..." is one document.
	if _, err := Parse([]byte("---\n"+base+"...\n# trailing comment\n"), "c.yaml"); err != nil {
		t.Fatalf("one document with markers: %v", err)
	}
	topo := "sites: [{name: a}]\n---\nservers: 12\n"
	if _, err := ParseTopology([]byte(topo), "t.yaml"); err == nil || !strings.Contains(err.Error(), "t.yaml:2: a second YAML document begins here") {
		t.Fatalf("topology with a second document: %v", err)
	}
}

// rt45 F7: "2days" was refused as `invalid duration "ays"`, a fragment.
// The whole value written is named, with the units accepted.
func TestDurationErrorNamesTheWholeValue(t *testing.T) {
	for _, in := range []string{"2days", "1d2x", "3 weeks", "5min", "xd"} {
		_, err := ParseDuration(in)
		if err == nil {
			t.Fatalf("ParseDuration(%q) succeeded", in)
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) || !strings.Contains(err.Error(), "units s, m, h, d") {
			t.Errorf("ParseDuration(%q): %v", in, err)
		}
	}
}
