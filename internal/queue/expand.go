package queue

import "umbra/internal/mailaddr"

// maxRecipients bounds a message's recipients after group expansion.
const maxRecipients = 10000

// expandInto adds the members of the group recipient m.Rcpts[group] to m
// as pending recipients (in the caller's commit), skipping addresses the
// message already has (mailaddr.RcptKey: the domain's ASCII case and the
// form of an internationalised domain aside, the local part exact — a
// relayed domain's "TD@" and "td@" are two mailboxes, rt17b-F2; delivery
// gives a member of an authoritative domain the spelling the message has
// already, so one of this organisation's mailboxes stays one); they inherit the group's NOTIFY, and their ORCPT
// names the group (RFC 3461 §5.2.1: the original recipient). It reports
// whether any was added.
func expandInto(m *Message, group int, members []string) bool {
	have := map[string]bool{}
	for _, r := range m.Rcpts {
		have[mailaddr.RcptKey(r.Addr, false)] = true
	}
	g := m.Rcpts[group]
	orcpt := g.ORcpt
	if orcpt == "" {
		orcpt = "rfc822;" + g.Addr
	}
	added := false
	for _, a := range members {
		a = mailaddr.Canonical(a) // as RCPT would store it (rt16d F1)
		if have[mailaddr.RcptKey(a, false)] || len(m.Rcpts) >= maxRecipients {
			continue
		}
		have[mailaddr.RcptKey(a, false)] = true
		m.Rcpts = append(m.Rcpts, Recipient{Addr: a, ORcpt: orcpt, Notify: g.Notify})
		added = true
	}
	return added
}
