package smtp

import "strconv"

// Size limits between the organisation's own servers. Every umbra hop
// adds header fields to a message it passes on: its Received field, the
// organisation id (X-Umbra-Org-Id, written at delivery from the record),
// and at the edge signatures and Authentication-Results. A message one
// hub accepted at exactly max_message_size (or with a header section at
// max_header_size) is therefore a little larger at the next umbra hop —
// a shadow copy on receipt, a relay to a hub of another site, a delivery
// to a mailbox server — and with the same limits there it would be
// refused (552 5.3.4): silently "no shadow copy" for the copy, a bounce
// for the relay. The limits are the organisation's promise to the
// sender, made once where the message enters it; so an authenticated
// transport server of the organisation (trustedServer: the sessions that
// may carry the organisation id, shadow sessions among them) may exceed
// max_message_size and max_header_size by transportAllowance, the room
// for the header fields of the hops the hop count allows. Anyone else
// gets the limits exactly (inclusive, RFC 1870). The EHLO SIZE stays
// max_message_size: it is the limit the sender's message was held to.

// transportAllowance is what a transport server's message may carry
// beyond the connector's limits: a hop adds well under 2 KiB (Received
// ~300 bytes, the org id ~60, DKIM and ARC sets a few KiB once at the
// edge), so 64 KiB is room for the hop count's worth of umbra hops.
const transportAllowance = 64 << 10

// sizeLimit is the largest message this session may send now: the
// connector's max_message_size (0: none), plus transportAllowance for an
// authenticated transport server.
func (v *verbConn) sizeLimit() int64 {
	if v.maxSize <= 0 {
		return 0
	}
	if v.exempt() {
		return v.maxSize + transportAllowance
	}
	return v.maxSize
}

// maxHeaderSize is the largest header section this session may send:
// transport.max_header_size, plus transportAllowance for an
// authenticated transport server.
func (s *session) maxHeaderSize() int {
	if s.trustedServer() {
		return s.srv.maxHeader + transportAllowance
	}
	return s.srv.maxHeader
}

// transportSize hands go-smtp, which holds MAIL SIZE= to
// max_message_size itself, a declared size the layer took within a
// transport server's allowance as max_message_size (the layer enforces
// the real limit as the body arrives).
func (v *verbConn) transportSize(ml *mailLine) {
	if v.maxSize <= 0 || !v.exempt() {
		return
	}
	for i, p := range ml.params {
		if p.key != "SIZE" {
			continue
		}
		if n, err := strconv.ParseUint(p.value, 10, 64); err == nil && n > uint64(v.maxSize) {
			ml.params[i].value, ml.changed = strconv.FormatInt(v.maxSize, 10), true
		}
	}
}

// followSizeLimit sets the limit of the transaction a MAIL opens: the
// smaller of max_message_size as the connection was opened and as the
// session's connector in force has it (a reload's, authreload.go), 0 for
// none in either. A reload lowers an open session's limit; it never
// raises it past the one its EHLO announced (go-smtp, which checks
// SIZE= too, keeps that one).
func (v *verbConn) followSizeLimit(s *session) {
	v.maxSize = v.ownMaxSize
	c := s.inForce()
	if c == nil {
		return
	}
	if now := int64(c.cfg.Limits.MaxMessageSize); now > 0 && (v.maxSize <= 0 || now < v.maxSize) {
		v.maxSize = now
	}
}
