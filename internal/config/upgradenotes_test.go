package config

import (
	"os"
	"strings"
	"testing"
)

// OPS-3: the README's upgrade notes ("Run umbra config check
// with the new binary before an upgrade: its checks grow. This release
// refuses …") list what a file of an earlier release may now be refused
// for; this release refuses settings every earlier release loaded, and
// says so there, each with its error text and what to change.
func TestOPS3UpgradeNotesNameTheNewRefusals(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### Upgrades and rollback")
	if i < 0 {
		t.Fatal("README has no section *Upgrades and rollback*")
	}
	sec := s[i:]
	// The section ends at the next heading of its level or above.
	for _, h := range []string{"\n### ", "\n## ", "\n# "} {
		if j := strings.Index(sec[10:], h); j >= 0 {
			sec = sec[:10+j]
		}
	}
	for _, want := range []string{`banner: ""`, "max_connections: 0", "auth.mechanisms", "mailbox.maildir",
		`send connector name "redirect" is reserved`, `site name "east/1" holds "/"`, "the port 007 has a leading zero"} {
		if !strings.Contains(sec, want) {
			t.Errorf("README *Upgrades and rollback* does not mention %s, which this release newly refuses", want)
		}
	}
}
