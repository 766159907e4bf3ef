package routing

import "testing"

func TestAccepted(t *testing.T) {
	tb := NewTable([]AcceptedDomain{
		{"example.org", Authoritative}, {"*.example.org", InternalRelay},
		{"*.deep.example.org", ExternalRelay}, {"Partner.NET.", InternalRelay},
	}, nil)
	for d, want := range map[string]DomainType{
		"example.org": Authoritative, "EXAMPLE.ORG.": Authoritative, "a.example.org": InternalRelay,
		"x.deep.example.org": ExternalRelay, "partner.net": InternalRelay,
		"badexample.org": NotAccepted, "org": NotAccepted, "example.net": NotAccepted,
	} {
		if got := tb.Accepted(d); got != want {
			t.Errorf("Accepted(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestRouteConnectorSelection(t *testing.T) {
	conns := []Connector{
		{Name: "internet", AddressSpaces: []AddressSpace{{"*", 10}}, Enabled: true},
		{Name: "cheap-internet", AddressSpaces: []AddressSpace{{"*", 5}}, Enabled: true},
		{Name: "b-partner", AddressSpaces: []AddressSpace{{"*.partner.net", 1}}, Enabled: true},
		{Name: "a-partner", AddressSpaces: []AddressSpace{{"*.partner.net", 1}}, Enabled: true},
		{Name: "mail-partner", AddressSpaces: []AddressSpace{{"*.mail.partner.net", 50}}, Enabled: true},
		{Name: "exact", AddressSpaces: []AddressSpace{{"hq.partner.net", 99}}, Enabled: true},
		{Name: "off", AddressSpaces: []AddressSpace{{"off.example", 1}}, Enabled: false},
	}
	tb := NewTable(nil, conns)
	for domain, want := range map[string]string{
		"example.com":        "cheap-internet", // only "*" matches: lowest cost
		"x.partner.net":      "a-partner",      // equal specificity and cost: name order
		"x.mail.partner.net": "mail-partner",   // more specific beats cheaper
		"hq.partner.net":     "exact",          // exact beats every wildcard
		"off.example":        "cheap-internet", // disabled connector skipped
	} {
		d, err := tb.Route(domain)
		if err != nil || d.Connector != want {
			t.Errorf("Route(%q) = %+v, %v; want %s", domain, d, err, want)
		}
		if d.Reason == "" {
			t.Errorf("Route(%q) gives no reason", domain)
		}
	}
	if _, err := NewTable(nil, conns[6:]).Route("x.example"); err == nil {
		t.Error("a route without any enabled connector")
	}
}
