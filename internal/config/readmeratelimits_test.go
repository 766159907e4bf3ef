package config

import (
	"os"
	"strings"
	"testing"
)

// The README's Rate limits example is what an operator copies: it loads
// as written (with what any connector needs besides: a binding), under
// the refusals of settings no session can use (rate_limits.user on a
// connector without AUTH is refused at its line).
func TestOPS3ReadmeRateLimitsExampleLoads(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Rate limits")
	if i < 0 {
		t.Fatal("no Rate limits section")
	}
	j := strings.Index(doc[i:], "```yaml\n")
	k := strings.Index(doc[i+j+8:], "```")
	block := doc[i+j+8 : i+j+8+k]
	if !strings.Contains(block, "user:") {
		t.Fatalf("the example has no user limit:\n%s", block)
	}
	// The example with what any connector needs (a binding) and a server.
	block = strings.Replace(block, "  - name: internet\n", "  - name: internet\n    bindings: [\"127.0.0.1:2525\"]\n    permissions: {anonymous: [submit]}\n", 1)
	block = strings.Replace(block, "  - name: submission", "  - name: submission\n    bindings: [\"127.0.0.1:2587\"]\n    permissions: {authenticated: [submit, relay]}\n    tls: {cert_file: c.pem, key_file: c.key}\n   ", 1)
	y := "server: {name: mx.test}\naccepted_domains: [{domain: example.test, type: authoritative, recipient_validation: \"off\"}]\nmailbox: {maildir: md}\n" + block
	if _, err := Parse([]byte(y), "readme.yaml"); err != nil {
		t.Errorf("the README's rate limits example does not load:\n%s\n%v", y, err)
	}
}
