package tlspolicy

import "testing"

// rt22b M1 sibling (RFC 8461 §3.1, RFC 8460 §3: field-delim = *WSP ";"
// *WSP, WSP = SP / HTAB): a tab beside ";" is white space in the
// _mta-sts and _smtp._tls records; the version tags are case-sensitive
// (%s"v=STSv1", %s"v=TLSRPTv1").
func TestTXTRecordsTabs(t *testing.T) {
	for _, s := range []string{"v=STSv1;\tid=abc1", "v=STSv1\t;id=abc1\t", "v=STSv1;\tid=abc1;\t"} {
		if id, err := ParseSTSRecord(s); err != nil || id != "abc1" {
			t.Errorf("ParseSTSRecord(%q) = %q, %v", s, id, err)
		}
	}
	if _, err := ParseSTSRecord("V=STSv1; id=abc1"); err == nil {
		t.Error("V=STSv1 read as an STSv1 record")
	}
	for _, s := range []string{"v=TLSRPTv1;\trua=mailto:r@x.test", "v=TLSRPTv1\t;rua=mailto:r@x.test\t", "v=TLSRPTv1; rua=mailto:r@x.test,\tmailto:s@x.test"} {
		if a, err := ParseRPTRecord(s); err != nil || a[0] != "r@x.test" {
			t.Errorf("ParseRPTRecord(%q) = %q, %v", s, a, err)
		}
	}
}
