package queue

import "umbra/internal/mailaddr"

// rcptMatch finds, among the recipients of one message's records, the
// one an address of another copy of that message names (a copy merged
// into the original, a pushed copy into the records kept, a quarantined
// record's recipients). A local part is the destination's to interpret
// (RFC 5321 §2.4): "TD@good.test" and "td@good.test" of a relayed domain
// are two mailboxes, both acknowledged and both handed on (rt17b-F2), so
// an address names first the recipient written with the same local part
// (the domain by mailaddr.DomainKey: either form of an internationalised
// name, ASCII case). Only when none is, it names the one recipient equal
// to it in ASCII case (mailaddr.AddrKey) — a copy that came by another
// path spelled as an earlier release or an authoritative domain's
// directory compared it —, and none when two recipients of the record
// are (both spellings are mailboxes of their own there).
type rcptMatch[V any] struct {
	exact  map[string]V    // mailaddr.RcptKey, local part exact
	folded map[string]V    // mailaddr.AddrKey
	twice  map[string]bool // AddrKey of two recipients whose local parts differ
}

func newRcptMatch[V any]() *rcptMatch[V] {
	return &rcptMatch[V]{exact: map[string]V{}, folded: map[string]V{}, twice: map[string]bool{}}
}

// rcptKey is the queue's one key of a recipient address in its stores
// and matches (rcptMatch, buckets finished and foldedrelay):
// mailaddr.RcptKey with the local part as written — the destination's to
// interpret (RFC 5321 §2.4) — and the domain by mailaddr.DomainKey. The
// queue does not know which domains the organisation is authoritative
// for; a store that must fold the local part of its own mailboxes keys
// by mailaddr.AddrKey (the delivered bucket: final delivery here).
func rcptKey(addr string) string { return mailaddr.RcptKey(addr, false) }

// put records addr with v; the first of two equal addresses is kept.
func (m *rcptMatch[V]) put(addr string, v V) {
	e := rcptKey(addr)
	if _, ok := m.exact[e]; ok {
		return
	}
	m.exact[e] = v
	f := mailaddr.AddrKey(addr)
	if _, ok := m.folded[f]; ok {
		m.twice[f] = true
		return
	}
	m.folded[f] = v
}

// get is the value of the recipient addr names, if any (nil m: none).
func (m *rcptMatch[V]) get(addr string) (V, bool) {
	var zero V
	if m == nil {
		return zero, false
	}
	if v, ok := m.exact[rcptKey(addr)]; ok {
		return v, true
	}
	f := mailaddr.AddrKey(addr)
	if m.twice[f] {
		return zero, false
	}
	v, ok := m.folded[f]
	return v, ok
}

// has reports whether addr names a recipient of m.
func (m *rcptMatch[V]) has(addr string) bool {
	_, ok := m.get(addr)
	return ok
}
