package smtp

import (
	"strings"

	"umbra/internal/queue"
)

// XDISCARD (shadow verbs version 13): a primary hands a discard
// notification it owes to the server that keeps the shadow copy, instead
// of waiting for that server to ask (XQUERYDISCARD). A primary that
// stops (SIGTERM, systemctl stop) pushes what it owes this way before it
// exits (delivery PushDiscards): a primary that does not come back soon
// would otherwise have its shadow servers take over, after their failed
// heartbeats, messages it delivered already, and deliver them again.
//
//	XDISCARD <id>                      the copy id is done: drop it
//	XDISCARD <id> RCPT=<xtext address> that recipient of it is done
//
// One notification a command, in the syntax of a line of the
// XQUERYDISCARD reply (W-4; the partial one of version 9), only after
// XSHADOW in the same session and outside a mail transaction. It names a
// copy kept for the session's server — the authenticated XSHADOW id, as
// XQUERYDISCARD hands notifications to that server only — and is applied
// as a notification fetched from it is (ids this server does not know are
// ignored, never taken as "discard everything"). The reply comes after
// the commit that applies it (250 2.0.0), so the client forgets the
// notification once it reads the 250 (SR-15); a failed commit answers
// 451 4.3.0 and the client keeps it. A server offers it when its queue
// applies discards so (DiscardTaker); a client pushes only to a server
// that advertised 13: an older one keeps asking for its discards as
// before, and an older primary never pushes.

// DiscardTaker is the part of the queue that applies discard
// notifications a primary pushed (queue.Manager.ShadowPushed: no
// database id, no contact, nothing written for a primary it keeps no
// state for): only then is version 13 offered.
type DiscardTaker interface {
	ShadowPushed(primary string, discards []string) (queue.ContactResult, error)
}

// xdiscard answers XDISCARD <line> (version 13).
func (v *verbConn) xdiscard(arg string) string {
	s := v.sess()
	if s == nil {
		return "503 5.5.1 XSHADOW first"
	}
	if r := s.shadowVerbRefusal("XDISCARD"); r != "" {
		return r
	}
	dt, ok := s.srv.shadow.(DiscardTaker)
	switch {
	case !ok || s.shadowVersion() < 13:
		return "503 5.5.1 XDISCARD not available"
	case s.busy.Load():
		return "503 5.5.1 XDISCARD not allowed during a mail transaction"
	}
	line, ok := discardLine(arg)
	if !ok {
		return "501 5.5.4 Syntax: XDISCARD <id> [RCPT=<address as xtext>]"
	}
	res, err := dt.ShadowPushed(s.shadowServer, []string{line})
	if err != nil {
		s.log.Error("applying a discard notification pushed by the primary failed", "primary", s.shadowServer, "err", err)
		return "451 4.3.0 Discard not recorded, send it again"
	}
	s.peerAnswered()
	if res.Discarded == 0 {
		// No copy held for this primary under that id (one held for
		// another primary is kept, one already gone is gone): nothing
		// to send again, and nothing applied.
		return "250 2.0.0 No copy held for you under that id"
	}
	s.log.Debug("discard notification pushed by the primary applied", "primary", s.shadowServer)
	return "250 2.0.0 Discard applied"
}

// discardLine checks one notification of XDISCARD: a shadow id, or a
// partial discard "<id> RCPT=<xtext>". It returns it as the queue reads
// notifications.
func discardLine(arg string) (string, bool) {
	arg = strings.TrimSpace(arg)
	if validShadowID(arg) {
		return arg, true
	}
	if pd, ok := queue.ParsePartialDiscard(arg); ok && validShadowID(pd.ID) {
		return pd.Wire(), true
	}
	return "", false
}

// PushDiscard hands one discard notification to the shadow server of
// this session (XDISCARD, version 13); nil once the server committed it.
// With a server below 13 nothing is sent and ErrNoPush returned.
func (c *Client) PushDiscard(line string) error {
	if c.ShadowVersion < 13 {
		return ErrNoPush
	}
	_, err := c.command("XDISCARD " + line)
	return err
}

// ErrNoPush: the shadow server speaks shadow verbs below 13 and takes no
// pushed discard; it fetches them itself (XQUERYDISCARD).
var ErrNoPush = errNoPush{}

type errNoPush struct{}

func (errNoPush) Error() string {
	return "the shadow server takes no pushed discards (shadow verbs below 13): it fetches them at its next query"
}
