package config

import (
	"strings"
	"testing"
)

func TestDKIMConfig(t *testing.T) {
	base := "server: {name: a.example.test}\nreceive_connectors:\n  - {name: x, bindings: [\"127.0.0.1:25\"]}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"dkim:\n  keys:\n    - {domain: example.test, selector: s1, key_file: k1}\n    - {domain: Example.Test., selector: s2, key_file: k2}\n",
			`:7: dkim.keys: domain "Example.Test." has two keys`},
		{"dkim:\n  keys:\n    - {domain: example.test, selector: s1}\n", ":6: dkim.keys: example.test needs key_file"},
		{"dkim:\n  keys:\n    - {domain: 'exa mple', selector: s1, key_file: k}\n", `:6: dkim.keys: domain "exa mple" is not a domain name`},
		{"dkim:\n  headers: [From, 'Sub ject']\n", `:5: dkim.headers: "Sub ject" is not a header field name`},
		{"dkim:\n  headers: [From, DKIM-Signature]\n", `:5: dkim.headers: "DKIM-Signature" is added after signing`},
		{"dkim:\n  headers:\n    - From\n    - Subject\n    - Received\n", `:8: dkim.headers: "Received" is a trace field`},
		{"dkim:\n  headers: [From, return-path]\n", `:5: dkim.headers: "return-path" is a trace field`},
		{"dkim:\n  headers: [From, Delivered-To]\n", `:5: dkim.headers: "Delivered-To" is a trace field`},
		{"dkim:\n  headers: [From, Authentication-Results]\n", `:5: dkim.headers: "Authentication-Results" is a trace field`},
		{"dkim:\n  headers: [From, X-Umbra-Org-Id]\n", `:5: dkim.headers: "X-Umbra-Org-Id" is a trace field`},
		{"dkim:\n  headers: [From, ARC-Seal]\n", `:5: dkim.headers: "ARC-Seal" is added after signing`},
		{"dkim:\n  arc: {domain: example.test, selector: a1}\n", ":5: dkim.arc needs key_file"},
		{"dkim:\n  arc: {domain: example.test, selector: a1, key_file: k, authserv_id: 'a b'}\n", `dkim.arc.authserv_id "a b" must be one token`},
		// The authserv-id is written into ARC-Authentication-Results as an
		// RFC 8601 value: a token (RFC 2045), no quoting, no specials.
		{"dkim:\n  arc: {domain: example.test, selector: a1, key_file: k, authserv_id: 'mx\"1'}\n", `t.yaml:5: dkim.arc.authserv_id "mx\"1" must be one token`},
		{"dkim:\n  arc: {domain: example.test, selector: a1, key_file: k, authserv_id: 'mx(1)'}\n", `t.yaml:5: dkim.arc.authserv_id "mx(1)" must be one token`},
		{"dkim:\n  arc:\n    domain: example.test\n    selector: a1\n    key_file: k\n    authserv_id: mx/1\n", `t.yaml:9: dkim.arc.authserv_id "mx/1" must be one token`},
		{"dkim:\n  arc: {domain: example.test, selector: a1, key_file: k, authserv_id: 'mx=1'}\n", `dkim.arc.authserv_id "mx=1" must be one token`},
		{"dkim:\n  arc: {domain: example.test, selector: a1, key_file: k, authserv_id: 'mx.bücher.test'}\n", `dkim.arc.authserv_id "mx.bücher.test" must be one token`},
		{"dkim:\n  arc: {selector: a1, key_file: k}\n", `dkim.arc.domain "" is not a domain name`},
	} {
		_, err := Parse([]byte(base+tc.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
	c, err := Parse([]byte(base+"dkim:\n  keys:\n    - {domain: example.test, selector: s1, key_file: keys/k1}\n  arc: {domain: example.test, selector: a1, key_file: /abs/a1}\n"), "/etc/umbra/umbra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.DKIM.Keys[0].KeyFile != "/etc/umbra/keys/k1" || c.DKIM.ARC.KeyFile != "/abs/a1" {
		t.Errorf("key paths not resolved against the file's directory: %q %q", c.DKIM.Keys[0].KeyFile, c.DKIM.ARC.KeyFile)
	}
	if c.DKIM.ARC.AuthServID != "a.example.test" || len(c.DKIM.Headers) != len(DefaultDKIMHeaders) {
		t.Errorf("defaults: authserv_id %q, %d headers", c.DKIM.ARC.AuthServID, len(c.DKIM.Headers))
	}
}
