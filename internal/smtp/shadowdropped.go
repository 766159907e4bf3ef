package smtp

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// XQUERYDROPPED (shadow verbs version 12): a primary asks a server that
// keeps shadow copies of its messages which of them that server's
// operator removed (umbra message remove --force; package queue,
// droppedcopy.go). "XQUERYDROPPED <max>", only after XSHADOW in the same
// session, lists the copies dropped for the session's server (the
// authenticated XSHADOW id), as XQUERYDISCARD lists notifications:
//
//	250-2.0.0 1 dropped copies
//	250 <id>
//
// The client marks its messages of those copies held by it only (and
// makes the copies again) before its next command; the server forgets
// the ids once the client speaks again (SR-15). The client repeats while
// n == max. A server offers it when its queue keeps such notes
// (DroppedNoter); a client asks only a server that advertised 12, so an
// older peer, on either side, sees the commands of version 11: an older
// shadow server never tells, an older primary never asks (its message
// stays on one disk until done, as before).

// DroppedNoter is a ShadowVerbs that notes the shadow copies its
// operator removed (queue.Manager): only then is version 12 offered.
type DroppedNoter interface {
	// DroppedCopies lists up to max copies kept for primary that were
	// removed here (another name of its database only for the database
	// presented, the session's XSHADOW DB=); ack forgets those listed.
	DroppedCopies(primary, presented string, max int) (ids []string, ack func())
}

// xqueryDropped answers XQUERYDROPPED <max> (version 12).
func (v *verbConn) xqueryDropped(arg string) string {
	s := v.sess()
	if s == nil { // no greeting yet (a connector that offers the verbs)
		return replyNoGreeting
	}
	if r := s.shadowVerbRefusal("XQUERYDROPPED"); r != "" {
		return r
	}
	dn, ok := s.srv.shadow.(DroppedNoter)
	if !ok || s.shadowVersion() < 12 {
		return "503 5.5.1 XQUERYDROPPED not available"
	}
	arg = strings.TrimSpace(arg)
	max, err := strconv.Atoi(arg)
	if err != nil || max <= 0 || !digitsOnly(arg) {
		return "501 5.5.4 Syntax: XQUERYDROPPED <max>, max a positive integer"
	}
	ids, ack := dn.DroppedCopies(s.shadowServer, s.shadowPeerDB, max)
	s.peerAnswered()
	if len(ids) == 0 {
		return "250 2.0.0 0 dropped copies"
	}
	lines := []string{fmt.Sprintf("250-2.0.0 %d dropped copies", len(ids))}
	for i, id := range ids {
		sep := "-"
		if i == len(ids)-1 {
			sep = " "
		}
		lines = append(lines, s.listLine(sep, id))
	}
	if err := v.writeReply(lines...); err != nil {
		s.log.Info("dropped copies not told; they will be told again", "primary", s.shadowServer, "err", err)
		return ""
	}
	v.deferAck(ack) // forgotten once the peer speaks again
	logDroppedTold(s.log, s.shadowServer, ids)
	return ""
}

// logDroppedTold says what the primary was told, per kind: copies the
// administrator removed here (counted), and a copy set aside here as
// damaged that cannot be named (queue.DroppedEvery, "*": the primary
// copies again every message whose copy is here).
func logDroppedTold(log *slog.Logger, primary string, ids []string) {
	removed := 0
	for _, id := range ids {
		if id != queue.DroppedEvery {
			removed++
		}
	}
	if removed > 0 {
		log.Info("primary told of shadow copies removed here by the administrator", "primary", primary, "copies_removed", removed)
	}
	if removed < len(ids) {
		log.Info("primary told of a shadow copy set aside here as damaged, which one unknown: it copies again every message whose copy is here", "primary", primary)
	}
}

// QueryDropped asks the shadow server which copies of this server's
// messages its operator removed (version 12; with an older peer nothing
// is asked and nil returned). Up to max ids; the server forgets them
// once this client sends its next command, so the caller records them
// before that.
func (c *Client) QueryDropped(max int) ([]string, error) {
	if c.ShadowVersion < 12 {
		return nil, nil
	}
	lines, err := c.command("XQUERYDROPPED " + strconv.Itoa(max))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, l := range c.listed(lines)[1:] {
		// "*": a copy set aside as damaged there, which it cannot name
		// (queue.DroppedEvery).
		if id := strings.TrimSpace(l); shadowid.Valid(id) || id == "*" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
