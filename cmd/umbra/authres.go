package main

import (
	"net"
	"strings"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/smtp"
)

// authservIDs are the authserv-ids this server writes in
// Authentication-Results: every receive connector's
// message_authentication.authserv_id (defaulted to the server name) and
// the ARC sealer's. The after-checks rule keeps only umbra's own of
// them (internal/smtp authres.go).
func authservIDs(c *config.Config) []string {
	var ids idSet
	for _, rc := range c.ReceiveConnectors {
		ids.add(rc.MessageAuthentication.AuthservID)
	}
	if c.DKIM.ARC.Enabled() {
		ids.add(c.DKIM.ARC.AuthServID)
	}
	ids.add(strings.ToLower(c.Server.Name)) // message_authentication's default
	return ids
}

// frontDoorIDs are the authserv-ids the front door removes (README
// "umbra's results are umbra's alone"): Org from every client that is
// not an authenticated transport server of the organisation — this
// server's own ids and every id of the organisation the configuration
// knows: the topology's servers, the smart hosts of send connectors
// that log in (as a server account) or carry an accepted domain, and
// organisation_authserv_ids; ServerOnly from every client, transport
// servers included — this server's name, which no other server writes
// (a shared authserv-id is configured as one, never a server's name).
func frontDoorIDs(c *config.Config) smtp.FrontDoorIDs {
	var org idSet
	for _, id := range authservIDs(c) {
		org.add(id)
	}
	for _, id := range c.OrganisationAuthservIDs {
		org.add(id)
	}
	if c.Topology != "" {
		if t, err := config.LoadTopology(c.Topology); err == nil { // its errors are serverTopology's
			for _, s := range t.Servers {
				org.add(s.Name)
			}
		}
	}
	accepted := map[string]bool{}
	for _, d := range c.AcceptedDomains {
		if d.Type != "external_relay" {
			accepted[mailaddr.NameKey(d.Domain)] = true
		}
	}
	for _, sc := range c.SendConnectors {
		inside := sc.Auth.Username != ""
		for _, a := range sc.AddressSpaces {
			inside = inside || accepted[mailaddr.NameKey(a.Domain)]
		}
		if !inside {
			continue
		}
		for _, h := range sc.SmartHosts {
			if host, _, err := net.SplitHostPort(h); err == nil {
				h = host
			}
			if h = strings.Trim(h, "[]"); net.ParseIP(h) == nil && config.IsDomain(h) { // an address names no authserv-id
				org.add(h)
			}
		}
	}
	return smtp.FrontDoorIDs{Own: authservIDs(c), Org: org, ServerOnly: []string{strings.ToLower(c.Server.Name)}}
}

// idSet is a list of authserv-ids without repeats (compared without
// case and final dot) or empty ones.
type idSet []string

func (s *idSet) add(id string) {
	id = strings.ToLower(id)
	if id == "" {
		return
	}
	for _, x := range *s {
		if strings.TrimSuffix(x, ".") == strings.TrimSuffix(id, ".") {
			return
		}
	}
	*s = append(*s, id)
}
