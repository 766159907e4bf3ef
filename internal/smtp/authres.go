package smtp

import (
	"umbra/internal/header"
	"umbra/internal/orgid"
)

// The front door of umbra's own Authentication-Results (RFC 8601 §5): a
// header claiming one of umbra's authserv-ids is a verdict umbra wrote,
// and the ARC sealer (package signing) seals it onward, so one written by
// anyone else is removed on receipt, on every receive connector, before
// the edge checks run (message authentication then adds its own). Only
// an authenticated transport server of the organisation keeps them: its
// results came from umbra itself, which removed forged ones at its own
// front door.

// SetAuthservIDs replaces the authserv-ids umbra writes in
// Authentication-Results (ServerConfig.AuthservIDs), on reload.
func (s *Server) SetAuthservIDs(ids []string) {
	ids = append([]string(nil), ids...)
	s.authIDs.Store(&ids)
}

// removeForgedResults removes, from the message after the trace header at
// body[:traceLen], every Authentication-Results field that claims one of
// umbra's authserv-ids, unless the sender is an authenticated transport
// server of the organisation.
func (s *session) removeForgedResults(body []byte, traceLen int) []byte {
	p := s.srv.authIDs.Load()
	if p == nil || len(*p) == 0 || s.trustedServer() {
		return body
	}
	content, n := header.RemoveAuthResults(body[traceLen:], *p...)
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
		return orgid.Internal(content) || s.c.cfg.DKIMSign || s.user != "" && !s.serverAccount
	case s.user != "":
		return true
	}
	return s.c.cfg.DKIMSign
}
