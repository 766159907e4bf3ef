package routing

import "testing"

// An accepted domain or address space configured in either spelling of
// an internationalised domain matches a recipient domain in the other
// (a U-label at RCPT under SMTPUTF8, an A-label from an ASCII sender).
func TestTableMatchesUAndALabels(t *testing.T) {
	tb := NewTable([]AcceptedDomain{{Domain: "xn--bcher-kva.example", Type: Authoritative}, {Domain: "*.münchen.example", Type: InternalRelay}},
		[]Connector{{Name: "to-bücher", Enabled: true, AddressSpaces: []AddressSpace{{Domain: "straße.example", Cost: 1}}},
			{Name: "out", Enabled: true, AddressSpaces: []AddressSpace{{Domain: "*", Cost: 10}}}})
	for _, c := range []struct {
		domain string
		want   DomainType
	}{
		{"bücher.example", Authoritative}, {"BÜCHER.example.", Authoritative}, {"xn--bcher-kva.example", Authoritative},
		{"a.xn--mnchen-3ya.example", InternalRelay}, {"a.münchen.example", InternalRelay}, {"bucher.example", NotAccepted},
	} {
		if got := tb.Accepted(c.domain); got != c.want {
			t.Errorf("Accepted(%q) = %v, want %v", c.domain, got, c.want)
		}
	}
	for _, d := range []string{"straße.example", "xn--strae-oqa.example", "XN--STRAE-OQA.example"} {
		if dec, err := tb.Route(d); err != nil || dec.Connector != "to-bücher" {
			t.Errorf("Route(%q) = %+v, %v; want the connector for straße.example", d, dec, err)
		}
	}
}
