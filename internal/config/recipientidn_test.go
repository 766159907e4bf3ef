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
