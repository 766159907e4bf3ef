package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SMTP-6: an inline recipient entry with an internationalised domain is
// accepted in either form, as accepted_domains is (rt17a F2); one whose
// domain IDNA refuses is refused at its line with that reason, not as
// "not user@domain".
func TestRecipientEntriesInternationalised(t *testing.T) {
	load := func(entries ...string) error {
		y := "server:\n  name: a.example.test\naccepted_domains:\n  - domain: bücher.test\nreceive_connectors:\n" +
			"  - name: x\n    bindings: [\"127.0.0.1:25\"]\nmailbox:\n  maildir: maildir\nrecipients:\n  addresses:\n"
		for _, e := range entries {
			y += "    - \"" + e + "\"\n"
		}
		f := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(f)
		return err
	}
	if err := load("anna@bücher.test", "@BÜCHER.test", "bob@xn--bcher-kva.test"); err != nil {
		t.Fatalf("U-label recipient entries refused: %v", err)
	}
	err := load("anna@bücher.test", "anna@exa\u00admple.test")
	if err == nil || !strings.Contains(err.Error(), "c.yaml:13:") || !strings.Contains(err.Error(), "invalid internationalized domain name label") ||
		strings.Contains(err.Error(), "is not user@domain") {
		t.Fatalf("a domain IDNA refuses: %v, want refused at its line with IDNA's reason", err)
	}
	err = load("anna@-bad.test")
	if err == nil || !strings.Contains(err.Error(), "bad domain") {
		t.Fatalf("a bad ASCII domain: %v, want its reason", err)
	}
}

// The topology's recipient map takes an internationalised domain in
// either form too (the README's "topology recipient entry"): a match
// bücher.test or *.bücher.test with its addresses in either form; one
// IDNA refuses is refused with its reason.
func TestTopologyRecipientsInternationalised(t *testing.T) {
	load := func(match string, addrs ...string) error {
		y := "sites: [{name: a}]\nservers: [{name: hub1, role: hub, site: a, address: \"127.0.0.2:25\"}, {name: mbx1, role: mailbox, site: a, address: \"127.0.0.1:24\"}]\n" +
			"mailbox_databases: [{name: DB1, server: mbx1}]\nrecipients:\n  - match: \"" + match + "\"\n    database: DB1\n"
		if len(addrs) > 0 {
			y += "    addresses:\n"
			for _, a := range addrs {
				y += "      - \"" + a + "\"\n"
			}
		}
		f := filepath.Join(t.TempDir(), "t.yaml")
		if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadTopology(f)
		return err
	}
	for _, tc := range [][]string{{"bücher.test", "anna@bücher.test", "bob@xn--bcher-kva.test"}, {"*.bücher.test", "anna@x.bücher.test"},
		{"xn--bcher-kva.test", "anna@BÜCHER.test"}, {"anna@bücher.test"}} {
		if err := load(tc[0], tc[1:]...); err != nil {
			t.Errorf("match %q addresses %q: %v", tc[0], tc[1:], err)
		}
	}
	if err := load("exa\u00admple.test"); err == nil || !strings.Contains(err.Error(), "invalid internationalized domain name label") {
		t.Errorf("a match IDNA refuses: %v, want IDNA's reason", err)
	}
	// The recipient entry's domain rule (RecipientEntryProblem): no
	// final dot, no "_" (OPS-: a config error with file and line).
	for _, match := range []string{"example.test.", "*.example.test.", "ex_ample.test"} {
		if err := load(match); err == nil || !strings.Contains(err.Error(), "t.yaml:") || !strings.Contains(err.Error(), "bad domain") {
			t.Errorf("match %q: %v, want refused at its line as a bad domain", match, err)
		}
	}
}
