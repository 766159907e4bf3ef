package smtp

import (
	"fmt"
	"strings"

	"umbra/internal/shadowid"
)

// XQUERYHELD (shadow verbs version 4): a shadow server asks its primary
// which of the copies it holds the primary is done with, so that a copy
// whose discard notification went missing does not wait for its expiry
// and a takeover — a second delivery of a delivered message (queue
// heldquery.go gives the primary's rule). "XQUERYHELD <id> [<id> ...]"
// names up to maxHeldIDs shadow message ids; the reply lists those the
// primary is done with, as XQUERYDISCARD lists notifications:
//
//	250-2.0.0 1 of 3 finished
//	250 <id>
//
// The shadow server applies them as discard notifications, in the same
// shadow session whose XSHADOW database id it compared first.

// HeldQuerier is a ShadowVerbs that can answer XQUERYHELD
// (queue.Manager); only then is version 4 offered.
type HeldQuerier interface {
	// ShadowHeld returns, of ids, those of server's copies this server
	// is done with.
	ShadowHeld(server string, ids []string) (done []string, err error)
}

// maxHeldIDs bounds the ids of one XQUERYHELD; heldLineMax keeps a
// client's command within RFC 5321's 512 octets.
const (
	maxHeldIDs  = 100
	heldLineMax = 500
)

// parseHeldArgs reads XQUERYHELD's arguments: 1 to maxHeldIDs valid
// shadow message ids separated by spaces.
func parseHeldArgs(arg string) ([]string, bool) {
	ids := strings.Fields(arg)
	if len(ids) == 0 || len(ids) > maxHeldIDs {
		return nil, false
	}
	for _, id := range ids {
		if !shadowid.Valid(id) {
			return nil, false
		}
	}
	return ids, true
}

// xqueryHeld answers XQUERYHELD (version 4).
func (v *verbConn) xqueryHeld(arg string) string {
	s := v.sess()
	if s == nil { // no greeting yet (a connector that offers the verbs)
		return replyNoGreeting
	}
	if r := s.shadowVerbRefusal("XQUERYHELD"); r != "" {
		return r
	}
	hq, ok := s.srv.shadow.(HeldQuerier)
	if !ok || s.shadowVersion() < 4 {
		return "503 5.5.1 XQUERYHELD not available"
	}
	ids, ok := parseHeldArgs(arg)
	if !ok {
		return fmt.Sprintf("501 5.5.4 Syntax: XQUERYHELD <shadow-id> [<shadow-id> ...], 1 to %d ids", maxHeldIDs)
	}
	done, err := hq.ShadowHeld(s.shadowServer, ids)
	if err != nil {
		s.log.Error("answering which shadow copies are finished failed", "shadow_server", s.shadowServer, "err", err)
		return "451 4.3.0 Cannot tell now, try again later"
	}
	if len(done) > 0 {
		s.log.Info("shadow server asked about copies this server is done with", "shadow_server", s.shadowServer,
			"asked", len(ids), "finished", len(done))
	}
	s.peerAnswered()
	if len(done) == 0 {
		return fmt.Sprintf("250 2.0.0 0 of %d finished", len(ids))
	}
	lines := []string{fmt.Sprintf("250-2.0.0 %d of %d finished", len(done), len(ids))}
	for i, id := range done {
		sep := "-"
		if i == len(done)-1 {
			sep = " "
		}
		lines = append(lines, s.listLine(sep, id))
	}
	v.reply(lines...)
	return ""
}

// idCommands are the commands verb asks about ids with: each within
// heldLineMax octets and maxHeldIDs ids, an id that is not one
// (shadowid.Valid) left out, none without an id.
func idCommands(verb string, ids []string) []string {
	var out []string
	for len(ids) > 0 {
		line := verb
		n := 0
		for n < len(ids) && n < maxHeldIDs && len(line)+1+len(ids[n]) <= heldLineMax {
			if shadowid.Valid(ids[n]) {
				line += " " + ids[n]
			}
			n++
		}
		if n == 0 {
			break
		}
		ids = ids[n:]
		if line != verb {
			out = append(out, line)
		}
	}
	return out
}

// QueryHeld asks the primary which of ids (shadow message ids of copies
// held for it) it is done with (version 4; with an older peer nothing is
// asked and nil returned). Ids that are not valid shadow message ids are
// not sent. Commands stay within 512 octets: several are sent for many
// ids.
func (c *Client) QueryHeld(ids []string) ([]string, error) {
	if c.ShadowVersion < 4 {
		return nil, nil
	}
	var done []string
	for _, line := range idCommands("XQUERYHELD", ids) {
		lines, err := c.command(line)
		if err != nil {
			return done, err
		}
		done = append(done, discardIDs(c.listed(lines))...)
	}
	return done, nil
}
