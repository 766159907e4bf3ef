package smtp

import (
	"errors"
	"fmt"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
	"umbra/internal/shadowid"
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
// XQUERYDISCARD reply (W-4; the partial one of version 9); from version
// 14 on several, separated by a space, applied in one commit with one
// reply (250 2.0.0 <n> discards applied):
//
//	XDISCARD <id> <id> RCPT=<xtext address> <id> …
//
// From version 19 on a notification may be a delay note, "<id> DELAYED"
// (a DELAYED word goes with the id before it, as a RCPT= word does; a
// client starts a new command with a copy id that reads DELAYED, so that
// it is never taken for one): the primary sent the delay DSN of that
// copy's message (package queue, delaynote.go), and the shadow server
// marks its copy as notified, as for one it fetched.
//
// (a RCPT= word belongs to the id before it; at most MaxPushDiscards a
// command, and a client keeps the line under maxPushLine). It is sent only after
// XSHADOW in the same session and outside a mail transaction. It names a
// copy kept for the session's server — the authenticated XSHADOW id, as
// XQUERYDISCARD hands notifications to that server only, with the
// database id it presented there (DB=, shadowPeerDB): a server this one
// relayed to through a send connector is kept here under the connector's
// host name, and is found by the address the copies went to being that
// server's in the topology, the database id only confirming (queue
// primariesOf; another server's id is refused at XSHADOW,
// databaseOfAnother: rt17e-F1) — and is applied
// as a notification fetched from it is (ids this server does not know are
// ignored, never taken as "discard everything"). The reply comes after
// the commit that applies it (250 2.0.0), so the client forgets the
// notification once it reads the 250 (SR-15); a failed commit answers
// 451 4.3.0 and the client keeps it. A server offers it when its queue
// applies discards so (DiscardTaker); a client pushes only to a server
// that advertised 13, several a command only to one of 14: an older one
// keeps asking for its discards as before, and an older primary never
// pushes. A stop's hand-over of 500 costs a commit and a round trip each
// at version 13, one per 100 at 14 (BENCHMARKS.md).

// DiscardTaker is the part of the queue that applies discard
// notifications a primary pushed (queue.Manager.ShadowPushedMarked: no
// database id, no contact, nothing written for a primary it keeps no
// state for; an early one kept under the mark the session's XSHADOW
// presented): only then is version 13 offered.
type DiscardTaker interface {
	ShadowPushedMarked(primary, dbID string, mark uint64, discards []string) (queue.ContactResult, error)
}

// xdiscard answers XDISCARD <line> (version 13).
func (v *verbConn) xdiscard(arg string) string {
	s := v.sess()
	if s == nil { // no greeting yet (a connector that offers the verbs)
		return replyNoGreeting
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
	lines, ok := discardLines(arg, s.shadowVersion() >= 14, s.shadowVersion() >= PushDelayedVersion)
	if !ok && s.shadowVersion() >= PushDelayedVersion {
		return fmt.Sprintf("501 5.5.4 Syntax: XDISCARD <id> [RCPT=<address as xtext> | DELAYED] [<id> [RCPT=... | DELAYED]]... (at most %d)", MaxPushDiscards)
	}
	if !ok && s.shadowVersion() >= 14 {
		return fmt.Sprintf("501 5.5.4 Syntax: XDISCARD <id> [RCPT=<address as xtext>] [<id> [RCPT=...]]... (at most %d)", MaxPushDiscards)
	}
	if !ok {
		return "501 5.5.4 Syntax: XDISCARD <id> [RCPT=<address as xtext>]"
	}
	mark := uint64(0)
	if s.shadowPeerDB != "" {
		mark = s.shadowPeerMark // presented with it (set together)
	}
	res, err := dt.ShadowPushedMarked(s.shadowServer, s.shadowPeerDB, mark, lines)
	if err != nil {
		s.log.Error("applying a discard notification pushed by the primary failed", "primary", s.shadowServer, "err", err)
		return "451 4.3.0 Discard not recorded, send it again"
	}
	s.peerAnswered()
	if o, ok := s.srv.obs.(DiscardObserver); ok && res.Discarded > 0 {
		// The copies the push discarded, each once, as those a discard
		// query fetched (shadow Recorder.contacted): the primary counts
		// them sent.
		o.DiscardsReceived(res.Discarded)
	}
	if len(lines) > 1 {
		// How many applied, and how many name no copy held for this
		// primary (rt17e-F6): an unknown id is never counted as applied.
		applied := min(res.Discarded, len(lines))
		s.log.Debug("discard notifications pushed by the primary applied", "primary", s.shadowServer, "notifications", len(lines), "discarded", res.Discarded)
		return fmt.Sprintf("250 2.0.0 %d discards applied, %d not held for you", applied, len(lines)-applied)
	}
	if _, delay := strings.CutSuffix(lines[0], queue.DelayNoteSuffix); delay {
		if res.Discarded == 0 {
			return "250 2.0.0 Delay note: no copy held for you under that id to mark"
		}
		return "250 2.0.0 Delay note applied"
	}
	if res.Discarded == 0 {
		// No copy held for this primary under those ids (one held for
		// another primary is kept, one already gone is gone): nothing
		// to send again, and nothing applied.
		return "250 2.0.0 No copy held for you under that id"
	}
	return "250 2.0.0 Discard applied"
}

// MaxPushDiscards bounds the notifications of one XDISCARD (version 14).
const MaxPushDiscards = 100

// maxPushLine bounds one XDISCARD command line a client sends (version
// 14), its CRLF included: the smallest limits.max_line_length a receive
// connector may keep (1000, CRLF counted: framing.go readLine; 2000 by
// default), so that no receiver answers 421 Line too long (rt17e-F6).
const maxPushLine = 1000

// discardLines reads the notifications of XDISCARD: one (discardLine), or
// with several (version 14) words, a RCPT= word going with the id before
// it, and with delayed (version 19) a DELAYED word too; at most
// MaxPushDiscards. false when one does not read.
func discardLines(arg string, several, delayed bool) ([]string, bool) {
	if !several {
		l, ok := discardLine(arg, delayed)
		return []string{l}, ok
	}
	var out []string
	words := strings.Fields(arg)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if i+1 < len(words) && (len(words[i+1]) >= 5 && strings.EqualFold(words[i+1][:5], "RCPT=") ||
			delayed && strings.EqualFold(words[i+1], delayedWord)) {
			w += " " + words[i+1]
			i++
		}
		l, ok := discardLine(w, delayed)
		if !ok || len(out) == MaxPushDiscards {
			return nil, false
		}
		out = append(out, l)
	}
	return out, len(out) > 0
}

// delayedWord is the word of a delay note in XDISCARD (version 19).
const delayedWord = "DELAYED"

// discardLine checks one notification of XDISCARD: a shadow id, a
// partial discard "<id> RCPT=<xtext>", or with delayed (version 19) a
// delay note "<id> DELAYED". It returns it as the queue reads
// notifications.
func discardLine(arg string, delayed bool) (string, bool) {
	arg = strings.TrimSpace(arg)
	if shadowid.Valid(arg) {
		return arg, true
	}
	if id, word, ok := strings.Cut(arg, " "); delayed && ok && strings.EqualFold(strings.TrimSpace(word), delayedWord) && shadowid.Valid(id) {
		return id + queue.DelayNoteSuffix, true
	}
	if pd, ok := queue.ParsePartialDiscard(arg); ok && shadowid.Valid(pd.ID) {
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
	if isDelayNote(line) && c.ShadowVersion < PushDelayedVersion {
		return ErrNoDelayPush
	}
	_, err := c.command("XDISCARD " + line)
	return err
}

// PushDiscards hands lines (discard notifications, as PushDiscard) to the
// shadow server of this session: several a command with a server of
// version 14 (up to MaxPushDiscards, a line under maxPushLine), else one a
// command. It returns how many the server answered, in order — committed,
// or refused as unreadable (501: it never will read it, and XQUERYDISCARD
// would hand it on all the same); an error leaves lines[n:] not committed.
// A 501 to several goes on one a command, so that only the line the
// server cannot read is passed over.
func (c *Client) PushDiscards(lines []string) (int, error) {
	if c.ShadowVersion < 13 {
		return 0, ErrNoPush
	}
	if c.ShadowVersion < PushDelayedVersion {
		for _, l := range lines {
			if isDelayNote(l) {
				return 0, ErrNoDelayPush // to an older server the word would read as a copy id
			}
		}
	}
	n := 0
	for n < len(lines) {
		k, size := 0, len("XDISCARD\r\n")
		if c.ShadowVersion >= 14 {
			// A copy id that reads DELAYED starts a command: after
			// another id it would be taken for that id's delay note.
			for n+k < len(lines) && k < MaxPushDiscards && (k == 0 || size+1+len(lines[n+k]) <= maxPushLine && !startsDelayed(lines[n+k])) {
				size += 1 + len(lines[n+k])
				k++
			}
		} else {
			k = 1
		}
		_, err := c.command("XDISCARD " + strings.Join(lines[n:n+k], " "))
		switch {
		case unreadable(err) && k > 1:
			for _, l := range lines[n : n+k] {
				if err := c.PushDiscard(l); err != nil && !unreadable(err) {
					return n, err
				}
				n++
			}
		case err != nil && !unreadable(err):
			return n, err
		default:
			n += k
		}
	}
	return n, nil
}

// isDelayNote: line is a delay note ("<id> DELAYED", queue.DelayNoteSuffix).
func isDelayNote(line string) bool {
	_, ok := strings.CutSuffix(line, queue.DelayNoteSuffix)
	return ok
}

// startsDelayed: line's copy id is the word DELAYED (any case).
func startsDelayed(line string) bool {
	id, _, _ := strings.Cut(line, " ")
	return strings.EqualFold(id, delayedWord)
}

// ErrNoDelayPush: a delay note was to be pushed to a shadow server below
// version 19 (18, CODES, included), which would read its DELAYED word as
// a copy id and drop the copy; it is left owed (fetched with
// XQUERYDISCARD … DELAYED, version 17).
var ErrNoDelayPush = errors.New("the shadow server takes no pushed delay notes (shadow verbs below 19)")

// unreadable: the server answered 501, a line it cannot read. It never
// will, and XQUERYDISCARD would hand it on all the same: it counts as
// handed over.
func unreadable(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code == 501
}

// ErrNoPush: the shadow server speaks shadow verbs below 13 and takes no
// pushed discard; it fetches them itself (XQUERYDISCARD).
var ErrNoPush = errNoPush{}

type errNoPush struct{}

func (errNoPush) Error() string {
	return "the shadow server takes no pushed discards (shadow verbs below 13): it fetches them at its next query"
}
