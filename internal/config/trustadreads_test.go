package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// OPS-3: dns.trust_ad's loopback check is made at each dns.servers entry
// and reads dns.trust_ad, a second key: it is a cross-key check and
// names that key (violation.reads), so that it is not made while
// trust_ad did not parse — the rule of its siblings. (trust_ad's default
// is false, so no wrong blame shows today; a default or a preset of true
// would blame every written server.)
func TestOPS3TrustADCheckNamesTheKeyItReads(t *testing.T) {
	v := &validator{}
	validateDNS(v, DNS{TrustAD: true, Servers: []string{"192.0.2.1:53"}, Timeout: Duration(time.Second), Attempts: 1})
	found := false
	for _, x := range v.out {
		if !strings.Contains(x.msg, "is not on loopback") {
			continue
		}
		found = true
		if !slices.ContainsFunc(x.reads, func(r []any) bool { return len(r) == 2 && r[0] == "dns" && r[1] == "trust_ad" }) {
			t.Errorf("the check at %v reads dns.trust_ad but does not name it: %v", x.path, x.reads)
		}
	}
	if !found {
		t.Fatalf("no loopback violation: %+v", v.out)
	}
}

// OPS-3: message_authentication.trusted_arc_sealers' check reads arc,
// a second key: an arc that did not parse is not taken for off.
func TestOPS3TrustedARCSealersCheckSkipsAnUnparsedARC(t *testing.T) {
	_, err := Parse([]byte(`server: {name: hub.test}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
receive_connectors: [{name: in, bindings: ["127.0.0.150:10001"]}]
message_authentication: {arc: [reject], trusted_arc_sealers: [sealer.example]}
`), "t.yaml")
	if err == nil {
		t.Fatal("loaded")
	}
	if strings.Contains(err.Error(), "needs arc checked") {
		t.Errorf("a cross-key check ran on an arc that did not parse, blaming trusted_arc_sealers:\n%v", err)
	}
}
