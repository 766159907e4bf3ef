package smtp

import (
	"fmt"
	"strings"
)

// XQUERYKEPT (shadow verbs version 23): a primary asks a server that
// keeps shadow copies of its messages which of the copies its pending
// records name there the server has no record of. A holder whose
// transport database file was copied back from an older copy (a file
// copy, not umbra db restore: the same database id and no rollback mark)
// lost every copy it acknowledged after that copy was taken, and its
// primary still counts them as kept there: a later loss of the primary
// lost the messages. "XQUERYKEPT <id> [<id> ...]", only after XSHADOW in
// the same session, names up to maxHeldIDs shadow message ids, as
// XQUERYHELD does; the reply lists those the server keeps nothing of for
// the session's server (the authenticated XSHADOW id), as XQUERYHELD
// lists the finished ones:
//
//	250-2.0.0 1 of 3 missing
//	250 <id>
//
// A copy held, taken over or in delivery here is kept. The primary
// marks a message held by it only when its copy is missing from two
// answers a probe interval apart (package queue, keptcopy.go), and makes
// the copy again. A server offers it when its queue can tell
// (KeptTeller); a client asks only a server that advertised 23, so an
// older peer, on either side, sees the commands of version 22: an older
// holder is never asked, and a copy its database lost so stays counted.

// KeptTeller is a ShadowVerbs that can answer XQUERYKEPT
// (queue.Manager): only then is version 23 offered.
type KeptTeller interface {
	TakenOverTeller
	// ShadowKeptMissing returns, of ids, those of primary's copies this
	// server has no record of (another name of its database counted for
	// the database presented, the session's XSHADOW DB=, or, with none
	// presented, for the one primary's record keeps; a taken-done note
	// only for a database of primary's).
	ShadowKeptMissing(primary, presented string, ids []string) (missing []string, err error)
}

// KeptVersion is the shadow verbs version from which XQUERYKEPT is
// offered.
const KeptVersion = 23

// xqueryKept answers XQUERYKEPT (version 23).
func (v *verbConn) xqueryKept(arg string) string {
	s := v.sess()
	if s == nil { // no greeting yet (a connector that offers the verbs)
		return replyNoGreeting
	}
	if r := s.shadowVerbRefusal("XQUERYKEPT"); r != "" {
		return r
	}
	kt, ok := s.srv.shadow.(KeptTeller)
	if !ok || s.shadowVersion() < KeptVersion {
		return "503 5.5.1 XQUERYKEPT not available"
	}
	ids, ok := parseHeldArgs(arg)
	if !ok {
		return fmt.Sprintf("501 5.5.4 Syntax: XQUERYKEPT <shadow-id> [<shadow-id> ...], 1 to %d ids", maxHeldIDs)
	}
	missing, err := kt.ShadowKeptMissing(s.shadowServer, s.shadowPeerDB, ids)
	if err != nil {
		s.log.Error("answering which shadow copies are kept here failed", "primary", s.shadowServer, "err", err)
		return "451 4.3.0 Cannot tell now, try again later"
	}
	if len(missing) > 0 {
		// Once a probe per primary at most; an answer of all kept,
		// every probe, says nothing.
		s.log.Info("primary asked which of its copies are kept here: some are not (this database was rolled back, or a copy is on its way)",
			"primary", s.shadowServer, "asked", len(ids), "missing", len(missing))
	}
	s.peerAnswered()
	if len(missing) == 0 {
		return fmt.Sprintf("250 2.0.0 0 of %d missing", len(ids))
	}
	lines := []string{fmt.Sprintf("250-2.0.0 %d of %d missing", len(missing), len(ids))}
	for i, id := range missing {
		sep := "-"
		if i == len(missing)-1 {
			sep = " "
		}
		lines = append(lines, s.listLine(sep, id))
	}
	v.reply(lines...)
	return ""
}

// QueryKept asks the shadow server which of ids (shadow message ids of
// copies this server's records name it the holder of) it has no record
// of (version 23; with an older peer nothing is asked and asked is
// false). Ids that are not valid shadow message ids are not sent.
// Commands stay within 512 octets: several are sent for many ids. An
// error leaves missing as far as it was read; an id of a command not
// answered is not in it.
func (c *Client) QueryKept(ids []string) (missing []string, asked bool, err error) {
	if c.ShadowVersion < KeptVersion {
		return nil, false, nil
	}
	for _, line := range idCommands("XQUERYKEPT", ids) {
		lines, err := c.command(line)
		if err != nil {
			return missing, true, err
		}
		asked := map[string]bool{}
		for _, id := range strings.Fields(line)[1:] {
			asked[id] = true
		}
		for _, id := range discardIDs(c.listed(lines)) {
			if asked[id] { // only an id this command named
				missing = append(missing, id)
			}
		}
	}
	return missing, true, nil
}
