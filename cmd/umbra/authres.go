package main

import (
	"strings"

	"umbra/internal/config"
)

// authservIDs are the authserv-ids this server writes in
// Authentication-Results: every receive connector's
// message_authentication.authserv_id (defaulted to the server name) and
// the ARC sealer's. The front door removes arriving ones claiming them
// (internal/smtp authres.go), on every connector.
func authservIDs(c *config.Config) []string {
	var ids []string
	add := func(id string) {
		for _, x := range ids {
			if strings.EqualFold(x, id) {
				return
			}
		}
		if id != "" {
			ids = append(ids, id)
		}
	}
	for _, rc := range c.ReceiveConnectors {
		add(rc.MessageAuthentication.AuthservID)
	}
	if c.DKIM.ARC.Enabled() {
		add(c.DKIM.ARC.AuthServID)
	}
	add(strings.ToLower(c.Server.Name)) // message_authentication's default
	return ids
}
