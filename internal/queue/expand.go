package queue

import (
	"strings"

	"umbra/internal/mailaddr"
)

// maxRecipients bounds a message's recipients after group expansion.
const maxRecipients = 10000

// expandInto adds the members of the group recipient m.Rcpts[group] to m
// as pending recipients (in the caller's commit), skipping addresses the
// message already has, compared by mailaddr.RcptKey: the domain's ASCII
// case and the form of an internationalised domain aside, the local part
// exact — a relayed domain's "TD@" and "td@" are two mailboxes,
// rt17b-F2 — but in ASCII case for a domain owned reports this
// organisation authoritative for (nil: none), so one of its mailboxes
// stays one. Members inherit the group's NOTIFY, and their ORCPT names
// the group (RFC 3461 §5.2.1: the original recipient): the group's own
// ORCPT if it had one, else its address, typed rfc822 when it is ASCII
// and utf-8 when it is not. It reports
// whether any was added.
func expandInto(m *Message, group int, members []string, owned func(domain string) bool) bool {
	key := func(a string) string {
		return mailaddr.RcptKey(a, owned != nil && owned(a[strings.LastIndexByte(a, '@')+1:]))
	}
	have := map[string]bool{}
	for _, r := range m.Rcpts {
		have[key(r.Addr)] = true
	}
	g := m.Rcpts[group]
	orcpt := g.ORcpt
	if orcpt == "" {
		// rfc822 is an ASCII address type (RFC 3461 §4.2): a group
		// address that is not ASCII (SMTPUTF8 mail to équipe@…) is typed
		// utf-8 (RFC 6533 §3), as the DSN's Original-Recipient field
		// writes it; "rfc822;équipe@…" could not be sent on (rr27 F3).
		orcpt = "rfc822;" + g.Addr
		if !isASCII(g.Addr) {
			orcpt = "utf-8;" + g.Addr
		}
	}
	added := false
	for _, a := range members {
		a = mailaddr.Canonical(a) // as RCPT would store it (rt16d F1)
		k := key(a)
		if have[k] || len(m.Rcpts) >= maxRecipients {
			continue
		}
		have[k] = true
		m.Rcpts = append(m.Rcpts, Recipient{Addr: a, ORcpt: orcpt, Notify: g.Notify})
		added = true
	}
	return added
}
