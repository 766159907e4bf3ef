package smtp

import (
	"slices"

	"umbra/internal/header"
	"umbra/internal/orgid"
)

// The front door of umbra's own Authentication-Results (RFC 8601 §5): a
// header claiming one of umbra's authserv-ids is a verdict umbra wrote,
// and the ARC sealer (package signing) seals it onward, so one written by
// anyone else is removed on receipt, on every receive connector, before
// the edge checks run (message authentication then adds its own). Mail
// enters the organisation wherever the client is not an authenticated
// transport server of the organisation, so there a result claiming any
// of the organisation's ids is removed, another server's as well as
// this one's. A transport server keeps them (its results came from
// umbra's checks behind its own front door), except those claiming this
// server's own name, which no earlier hop writes.

// FrontDoorIDs are the authserv-ids the front door acts on.
type FrontDoorIDs struct {
	// Own are the ids umbra writes here: after the checks only umbra's
	// own results of these are kept (keepOwnResults).
	Own []string
	// Org are every id of the organisation the configuration knows
	// (Own included): removed on receipt from every client that is not
	// an authenticated transport server of the organisation — mail
	// enters the organisation there.
	Org []string
	// ServerOnly are ids no other server writes (the server's name):
	// removed on receipt from every client, transport servers included,
	// since no earlier hop can have written them.
	ServerOnly []string
}

// SetAuthservIDs replaces the front door's authserv-ids
// (ServerConfig.AuthservIDs), on reload.
func (s *Server) SetAuthservIDs(ids FrontDoorIDs) {
	ids.Own = append([]string(nil), ids.Own...)
	ids.Org = append(append([]string(nil), ids.Org...), ids.Own...)
	ids.ServerOnly = append([]string(nil), ids.ServerOnly...)
	s.authIDs.Store(&ids)
}

// removeForgedResults removes, from the message after the trace header at
// body[:traceLen], every Authentication-Results field that claims one of
// the organisation's authserv-ids, unless the sender is an authenticated
// transport server of the organisation; from one, those claiming this
// server's own name (no earlier hop wrote them).
func (s *session) removeForgedResults(body []byte, traceLen int) []byte {
	p := s.srv.authIDs.Load()
	if p == nil {
		return body
	}
	ids := p.Org
	if s.trustedServer() {
		ids = p.ServerOnly
	}
	if len(ids) == 0 {
		return body
	}
	content, n := header.RemoveAuthResults(body[traceLen:], ids...)
	if n == 0 {
		return body
	}
	s.log.Info("forged Authentication-Results removed", "count", n, "client", s.ip.String())
	return append(body[:traceLen:traceLen], content...)
}

// originInside decides whether the message originated inside the
// organisation (queue.Message.Internal: umbra DKIM-signs it when it
// leaves): the client authenticated as a user (submission), or the
// connector is one an operator marked dkim_sign (application servers),
// or — for a transport server of the organisation, which received it
// first — what its orgid.OriginHeader says. Anyone else's mail, an
// anonymous relay's included, is never signed: a signature vouches that
// the organisation sent the message.
func (s *session) originInside(content []byte) bool {
	switch {
	case s.trustedServer():
		// A user's own submission through such a connector is still a
		// submission; a server account forwards what another server
		// decided.
		return orgid.Internal(content) || s.txDKIMSign() || s.user != "" && !s.serverAccount
	case s.user != "" && !s.serverAccount:
		// A user's submission. A server account that is no trusted
		// transport server here (from an address the topology does not
		// give it, or naming no transport server) forwards what
		// another server decided, which cannot be believed: only the
		// connector's dkim_sign speaks for its mail.
		return true
	}
	return s.txDKIMSign()
}

// txDKIMSign: the transaction's connector is dkim_sign and, for a session
// whose address a reload gave another connector (txReq, taken at its
// MAIL), so is that one: a new connection from the address would not be
// vouched for by a connector that no longer takes it.
func (s *session) txDKIMSign() bool {
	c := s.txConn()
	return c.cfg.DKIMSign && (s.txReq == nil || s.txReq == c || s.txReq.cfg.DKIMSign)
}

// keepOwnResults is the message after the end-of-data checks with only
// the Authentication-Results of umbra's authserv-ids that umbra wrote:
// those the message had before the checks (a transport server of the
// organisation's, kept by the front door) and the one umbra's message
// authentication wrote (t.AuthResults). One a milter added or changed is
// removed: the ARC sealer attests umbra's fields, so no check may write
// one. A result describes the From: it was evaluated on: when a check
// changed From: after it (a milter after message authentication), it no
// longer describes the message and is removed too — umbra then attests
// nothing for it (no ARC seal) rather than a DMARC pass for another
// author. before is the content the checks were given.
func (s *session) keepOwnResults(before []byte, t *Transaction, ownFrom []string) []byte {
	p := s.srv.authIDs.Load()
	if p == nil || len(p.Own) == 0 {
		return t.Content
	}
	ids := p.Own
	from := header.Values(t.Content, "From")
	var keep [][]byte
	if slices.Equal(header.Values(before, "From"), from) {
		keep = header.UmbraAuthResults(before, ids...)
	}
	if t.AuthResults != nil {
		if slices.Equal(ownFrom, from) {
			keep = append(keep, t.AuthResults)
		} else {
			// Noted on the refusal log, paced per source (words49 item
			// 3): a WARN per message let any client whose mail a check
			// rewrites write the log without bound.
			s.srv.refusals.log(s.log, "From: changed by a check after message authentication; umbra's results removed",
				"from_changed_by_check", nil, s.ip, "msg_id", t.QueueID)
		}
	}
	out, n := header.RemoveAuthResultsExcept(t.Content, keep, ids...)
	if t.AuthResults != nil && slices.Equal(ownFrom, from) &&
		!slices.ContainsFunc(header.UmbraAuthResults(out, ids...), func(f []byte) bool { return string(f) == string(t.AuthResults) }) {
		// A check changed umbra's own field: it is removed above and
		// umbra's, as written, put back on top.
		out = append(append([]byte(nil), t.AuthResults...), out...)
	}
	if n > 0 {
		s.srv.refusals.log(s.log, "Authentication-Results claiming umbra's authserv-id removed after the checks",
			"results_forged_by_check", nil, s.ip, "msg_id", t.QueueID, "count", n)
	}
	return out
}
