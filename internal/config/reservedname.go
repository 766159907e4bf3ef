package config

import (
	"fmt"
	"strings"
)

// reservedConnectorNames are the names umbra gives to a destination,
// queue or next hop of its own where a send connector's name stands
// alone (a recipient's next hop, a metric's destination label, the
// self-check's connector): a send connector named so would look like
// it. Compared without letter case: "Redirect" reads as "redirect".
var reservedConnectorNames = map[string]string{
	"redirect":    "an operator's queue redirect (umbra_outbound_sessions_total's destination, the redirect's self-check)",
	"unreachable": "mail no send connector or route reaches (its queue and next hop)",
	"routing":     "mail routing refused, failed with an NDR (its next hop)",
	"directory":   "mail waiting for the directory to assign its mailbox database (its queue and next hop)",
	"expansion":   "a group expanded into its members (its queue and next hop)",
	"org":         "its relays to the topology's servers (umbra_outbound_sessions_total's destination)",
	"mailbox":     "its LMTP sessions to the topology's mailbox servers (umbra_outbound_sessions_total's destination)",
	"maildir":     "its own Maildir store (the next hop of mail delivered there)",
}

// ReservedConnectorName says why name cannot be a send connector's (in
// the configuration file or the topology), "" when it can: a name umbra
// gives to its own next hops (reservedConnectorNames), or one holding a
// "/", which makes the connector's destination (connector:NAME) read as
// another connector's per-domain MX destination (connector:NAME/DOMAIN,
// queue destinations).
func ReservedConnectorName(name string) string {
	if why, ok := reservedConnectorNames[strings.ToLower(name)]; ok {
		return fmt.Sprintf("is reserved: umbra names %s so; choose another name", why)
	}
	if strings.Contains(name, "/") {
		return `holds "/": a connector's destination connector:NAME would read as the per-domain destination connector:NAME/DOMAIN of another; choose a name without "/"`
	}
	return ""
}
