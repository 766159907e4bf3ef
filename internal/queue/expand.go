package queue

import (
	"sort"
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
	orcpt := memberORcpt(g)
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

// memberORcpt is the ORCPT the members of the group g carry (expandInto).
func memberORcpt(g Recipient) string {
	if g.ORcpt != "" {
		return g.ORcpt
	}
	// rfc822 is an ASCII address type (RFC 3461 §4.2): a group address
	// that is not ASCII (SMTPUTF8 mail to équipe@…) is typed utf-8 (RFC
	// 6533 §3), as the DSN's Original-Recipient field writes it;
	// "rfc822;équipe@…" could not be sent on (rr27 F3).
	if !isASCII(g.Addr) {
		return "utf-8;" + g.Addr
	}
	return "rfc822;" + g.Addr
}

// groupsSettled returns the addresses of the groups expanded in m whose
// members the recipients in done (by index) leave none of pending — what
// a shadow copy of m holds in their place: the copy names the group, a
// copy made before the expansion, never its members, so a partial
// discard naming only the members settles nothing there (the holder's
// takeover delivers the group again). stillPending says whether a member
// is pending after the caller's commit; withheld (nil: none) whether a
// member is settled otherwise for now (a failure DSN's recipient until
// the DSN leaves): its group is not named. A group is a recipient no
// longer pending (Relayed by its expansion) whose expansion ORCPT
// (memberORcpt) another recipient carries. A recipient so matched that
// is no group (one whose ORCPT merely names another recipient) names a
// recipient finished here already: its partial discard is owed anyway.
func groupsSettled(m *Message, done map[int]bool, stillPending func(i int) bool, withheld func(i int) bool) []string {
	type group struct {
		addr                  string
		touched, pending, out bool
	}
	var groups map[string]*group
	for _, g := range m.Rcpts {
		if g.Status == Pending || g.Status == Shadowed {
			continue
		}
		if groups == nil {
			groups = map[string]*group{}
		}
		if o := memberORcpt(g); groups[o] == nil {
			groups[o] = &group{addr: g.Addr}
		}
	}
	if groups == nil {
		return nil
	}
	for i, r := range m.Rcpts {
		g := groups[r.ORcpt]
		if r.ORcpt == "" || g == nil || g.addr == r.Addr {
			continue
		}
		if done[i] {
			g.touched = true
			if withheld != nil && withheld(i) {
				g.out = true
			}
		} else if stillPending(i) {
			g.pending = true
		}
	}
	var out []string
	for _, g := range groups {
		if g.touched && !g.pending && !g.out {
			out = append(out, g.addr)
		}
	}
	sort.Strings(out)
	return out
}

// groupMembersOf returns the addresses of the members of the group addr
// expanded in m (the recipients whose ORCPT names it, memberORcpt), nil
// when addr is no group of m.
func groupMembersOf(m *Message, addr string) []string {
	var out []string
	for _, g := range m.Rcpts {
		if g.Addr != addr || g.Status == Pending || g.Status == Shadowed {
			continue
		}
		o := memberORcpt(g)
		for _, r := range m.Rcpts {
			if r.ORcpt == o && r.Addr != addr {
				out = append(out, r.Addr)
			}
		}
		return out
	}
	return nil
}

// groupOf returns the address of the group expanded in m whose member
// m.Rcpts[i] is, "" when it is none's.
func groupOf(m *Message, i int) string {
	r := m.Rcpts[i]
	if r.ORcpt == "" {
		return ""
	}
	for _, g := range m.Rcpts {
		if g.Addr != r.Addr && g.Status != Pending && g.Status != Shadowed && memberORcpt(g) == r.ORcpt {
			return g.Addr
		}
	}
	return ""
}

// groupReported reports whether a failure DSN still here reports the
// group addr of m or one of its members (reported: reportedHere): the
// copy keeps the group until the last such DSN has left — its holder's
// takeover reports those members' failure again should this server be
// lost with the DSN —, and that DSN's departure names the group
// (releaseReported), not the commit that finished its last member.
func groupReported(m *Message, addr string, reported map[string]bool) bool {
	if reported[addr] {
		return true
	}
	for _, a := range groupMembersOf(m, addr) {
		if reported[a] {
			return true
		}
	}
	return false
}
