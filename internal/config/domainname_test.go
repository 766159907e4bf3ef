package config

import (
	"strings"
	"testing"
)

// A domain written in the configuration is one name whatever its form:
// final dot, case, U-label or A-label (mailaddr.Name). Before, config
// compared some by case and final dot only: a postmaster in the A-label
// of an accepted domain written as a U-label was "outside the
// organisation", and one domain's two DKIM keys passed in two forms.
func TestConfigDomainFormsAreOneName(t *testing.T) {
	base := "server: {name: mx.a.test}\nreceive_connectors: [{name: in, bindings: [\"127.0.0.1:25\"]}]\nmailbox: {maildir: m}\nrecipients: {addresses: [a@a.test]}\n"
	c, err := Parse([]byte(base+"accepted_domains: [{domain: \"Bücher.Example.\", type: authoritative}]\n"), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Postmaster != "postmaster@xn--bcher-kva.example" {
		t.Errorf("default postmaster %q, want postmaster@xn--bcher-kva.example", c.Server.Postmaster)
	}
	if _, err := Parse([]byte(strings.Replace(base, "mx.a.test}", "mx.a.test, postmaster: postmaster@XN--BCHER-KVA.example}", 1)+
		"accepted_domains: [{domain: \"bücher.example\", type: authoritative}]\n"), "d.yaml"); err != nil {
		t.Errorf("postmaster in the accepted domain's A-label: %v", err)
	}
	_, err = Parse([]byte(base+"accepted_domains: [{domain: a.test, type: authoritative}]\ndkim:\n  keys:\n    - {domain: \"Bücher.example\", selector: s1, key_file: k1}\n    - {domain: \"xn--bcher-kva.example.\", selector: s2, key_file: k2}\n"), "d.yaml")
	if err == nil || !strings.Contains(err.Error(), "d.yaml:9: dkim.keys: domain \"xn--bcher-kva.example.\" has two keys") {
		t.Errorf("one domain's two keys in two forms: %v", err)
	}
}
