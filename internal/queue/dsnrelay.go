package queue

import "strings"

// RFC 3461 relay semantics of success DSNs (§6.2): a recipient delivered
// into a mailbox here is reported "delivered"; one handed to a next hop
// that took the DSN parameters is not reported here at all (the manager
// sends no success DSN for it: Result.DSNPassed); one handed to a next
// hop that does not speak DSN is reported "relayed" — this server no
// longer knows what became of it.

// dsnAction is the Action field of a recipient in a DSN of kind.
func dsnAction(kind Notify, r Recipient, def string) string {
	if kind == NotifySuccess && (r.Status == Relayed || r.Status == Shadowed) {
		return "relayed"
	}
	return def
}

// successIntro is the human-readable part of a success DSN.
func successIntro(m *Message, rcpts []int) string {
	for _, i := range rcpts {
		if dsnAction(NotifySuccess, m.Rcpts[i], "") == "relayed" {
			return "Your message was delivered to the recipients below, or relayed to a\r\n" +
				"next hop that does not report delivery (Action: relayed).\r\n"
		}
	}
	return "Your message was delivered to the recipients below.\r\n"
}

// dsnRemoteMTA is the host named in a recipient's Remote-MTA field:
// only a host outside the organisation. Servers of the organisation
// (relays to a site, legacy routing groups, mailbox servers, primaries
// of shadow copies) are internal and never shown to the sender.
func dsnRemoteMTA(r Recipient) string {
	for _, internal := range []string{"site:", "legacy:", "mailbox:", "shadow:"} {
		if strings.HasPrefix(r.Queue, internal) {
			return ""
		}
	}
	return remoteMTA(r.NextHop)
}
