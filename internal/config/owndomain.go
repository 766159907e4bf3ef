package config

import (
	"strings"

	"umbra/internal/mailaddr"
)

// OwnDomain reports whether d (ASCII, lower case, no final dot) is one
// of the organisation's accepted domains, a "*." pattern's domain
// included. It is the one list of own domains that the receive
// connectors' From: check (a display name may not show an address of
// one) and DKIM signing (which reads the author as that check does)
// are given.
func (c *Config) OwnDomain(d string) bool {
	for _, a := range c.AcceptedDomains {
		if mailaddr.DomainKey(strings.TrimPrefix(a.Domain, "*.")) == d {
			return true
		}
	}
	return false
}
