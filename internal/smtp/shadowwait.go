package smtp

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"umbra/internal/queue"
)

// ShadowVersion is the version of the shadow verbs this server speaks,
// advertised as "XSHADOW 2" in EHLO (a bare XSHADOW is version 1, the
// previous release). Version 2 adds one thing: XQUERYDISCARD <max>
// WAIT=<seconds>, a long poll that the primary answers as soon as a
// discard notification for the session's server commits, or with 0
// notifications when the wait ends. Peers negotiate the lower version:
// a version-1 client never sends WAIT=, and a version-2 client sends it
// only to a server that advertised version 2.
//
// Version 3 adds the MAIL parameter XSHADOWCOPY=<database-id>: the
// primary pushes a copy of a message it received to this server, which
// keeps it as a shadow copy (shadow on receipt, SR-17, receipt.go). It
// is offered by a server whose queue can keep such copies; a client
// pushes copies only to a server that advertised version 3.
//
// Version 4 adds XQUERYHELD <id>...: a shadow server asks which of the
// copies it holds the primary is done with (shadowheld.go). It is
// offered by a server whose queue can answer (HeldQuerier); a client
// asks only a server that advertised version 4.
//
// Version 5 makes a copy on receipt all or nothing at this end: a copy
// whose transaction had any command refused (its MAIL, a RCPT, a BDAT)
// is refused whole at its end (554 5.5.1), never kept for the recipients
// that were accepted. A client can then send MAIL, every RCPT and
// "BDAT <n> LAST" with the body in one write and read the replies once
// (PushCopy, pushone.go): one round trip instead of two (the pipelined
// DATA form must wait for the 354 to see the recipients' replies and
// abandon a partial copy). It is offered with version 4; a client sends
// the one-write form only to a server that advertised version 5, and
// the DATA form to any other.
//
// Version 6 adds MAIL … XSHADOWBATCH=<n> with XSHADOWCOPY=: the body of
// the transaction is a batch of n copies on receipt, each with its own
// envelope, kept in one commit and answered copy by copy (batch.go). It
// is offered by a server whose queue keeps a batch in one commit
// (ShadowBatchCopier); a client sends a batch only to a server that
// advertised version 6, single copies by version 5's form to any other.
//
// Version 7 adds rollback marks (package queue, marks.go): "XSHADOW
// <server-id> MARK" asks the primary for its mark for this server, which
// the reply carries after the database id ("250 <database-id> MARK=<n>")
// and so does the first line of every XQUERYDISCARD reply of the session
// ("250 2.0.0 <n> discard notifications MARK=<m>"); "XSHADOW <server-id>
// MARK=<n> DB=<database-id>" also presents the client's own mark for this
// server, when it opens a session to push copies on receipt. A server
// that keeps no marks (MarkKeeper) offers version 6 at most; a client
// sends MARK only to a server that advertised version 7, so an older
// peer sees the commands of version 6.
//
// Version 8 changes no command, only what a shadow id names: a client
// gives each transaction a shadow id of its own (queue.RelayShadowID),
// so that a discard settles exactly the copy of the primary's record it
// is for, and a primary merges a copy named so into an original it
// holds only under the same id (package queue, copyid.go). A client
// names copies per transaction only to a server that advertised version
// 8 — an older one merges a retried copy into its original whatever
// the id, and would discard the retried copy at once —, and one id per
// message and primary to any other. It is offered with version 7.
//
// Version 9 adds partial discards (package queue, partialdiscard.go):
// "XQUERYDISCARD <max> [WAIT=<seconds>] PARTIAL" asks for them with the
// full ones, and the reply then carries, after the ids of the copies to
// drop whole, lines "<id> RCPT=<xtext address>": the recipient of that
// copy is done at the primary (delivered, relayed, failed with no DSN of
// the primary's own to cover or with that DSN gone from it), and the
// copy stays for its others. max
// counts the lines. A client asks PARTIAL only of a server that
// advertised version 9; a server sends such lines only to a query that
// asked, so an older peer, on either side, sees the replies of version 8
// (and keeps the whole copy until the full discard: README, duplicate
// window 1). It is offered by a server whose queue keeps partial
// discards (PartialDiscarder).
//
// Version 10 adds "XSHADOW <id> MARK DB=<database-id>": a client that
// keeps no rollback mark for the server (a send connector's host whose
// database it never met under a name it counts marks for) presents its
// database id alone, so the server records the database the client keeps
// its shadow copies in before the session's messages (HolderRecorder),
// with no mark compared. A client asks it only of a server that
// advertised 10; to an older one it sends the bare MARK, as before.
//
// Version 11 adds messages given to the holder of their copy (package
// queue, handback.go): "XQUERYDISCARD <max> [WAIT=<seconds>] PARTIAL
// TAKEOVER" asks for them too, and the reply then carries, after the
// full and partial discards, lines "<id> TAKEOVER": the primary found
// the message's body unreadable and gives it to this server, which takes
// that copy over and delivers it; the primary removes its record once
// the client speaks again (the client's commit came first). A client
// asks TAKEOVER only of a server that advertised version 11, a server
// sends such lines only to a query that asked. It is offered by a
// server whose queue gives messages so (HandBackDiscarder).
//
// Version 12 adds XQUERYDROPPED <max> (shadowdropped.go): a primary asks
// the server that keeps its messages' copies which of them that server's
// operator removed, and makes them again. A client asks only a server
// that advertised 12; it is offered by a server whose queue notes such
// removals (DroppedNoter).
//
// Version 13 adds XDISCARD <line> (shadowpush.go): a primary that stops
// hands the discard notifications it owes to the server keeping the
// copies, one a command, instead of leaving them to that server's next
// query. A client pushes only to a server that advertised 13; it is
// offered by a server whose queue applies them (DiscardTaker).
//
// Version 14 lets XDISCARD carry several notifications, applied in one
// commit with one reply: a stop's hand-over costs a commit and a round
// trip per hundred, not per notification. A client sends several only to
// a server that advertised 14; it needs nothing more of the queue.
//
// Version 15 adds XQUERYTAKENDONE <max> (shadowtakendone.go): a primary
// back with its database asks the server that keeps its messages' copies
// what it finished of those it took over meanwhile, and neither delivers
// nor reports them again. A client asks only a server that advertised
// 15; it is offered by a server whose queue keeps the notes
// (TakenDoneTeller).
//
// Version 16 adds "XQUERYTAKENDONE <max> HELD" (shadowtakendone.go): the
// server also lists the copies it took over that its administrator held
// when they were given back, and the primary holds its originals. A
// client says HELD only to a server that advertised 16; it is offered by
// a server whose queue keeps those notes (HeldTeller).
//
// Version 17 adds delay notes (package queue, delaynote.go):
// "XQUERYDISCARD <max> [WAIT=<seconds>] PARTIAL TAKEOVER DELAYED" asks
// for them too, and the reply then carries, among the partial discards,
// lines "<id> DELAYED": the primary sent the "delayed" DSN of that
// copy's message, so the copy, taken over, sends none. A client says
// DELAYED only to a server that advertised 17; a server sends such
// lines only to a query that asked, so an older peer sees the replies
// of version 16. It is offered by a server whose queue keeps the notes
// (DelayNoteDiscarder).
//
// Version 18 adds enhanced status codes where a success had none (RFC
// 2034 §3; rt20a F4): a client says "CODES" as the last word of its
// XSHADOW ("XSHADOW <server-id> [MARK…] CODES"), and the server then
// answers that XSHADOW "250 2.0.0 <database-id>[ MARK=<n>]" and writes
// every line of a shadow verb's list after the first (XQUERYDISCARD,
// XQUERYHELD, XQUERYDROPPED, XQUERYTAKENDONE) as "250-2.0.0 <entry>"
// (listLine), and each "COPY <i> …" line of a batch's reply (batchReply;
// its first line too). A client says CODES only to a server that advertised 18
// (one below answers it 501 5.5.4), and a session that did not say it —
// every client of 17 and below — hears the replies of 17 byte for byte:
// those clients read the id from the line's text as it stands. Offered
// with version 17: it needs nothing more of the queue.
//
// Version 19 lets XDISCARD carry delay notes (shadowpush.go): "XDISCARD
// <id> DELAYED", a DELAYED word going with the id before it as a RCPT=
// word does, so that a stopping primary hands them over with its
// partial discards and its holder, taking the copy over when the
// primary does not come back, sends no second delay DSN. A client
// pushes one only to a server that advertised 19 (to an older one the
// word would read as a copy id: a full discard of a copy named DELAYED
// and nothing of the note); it needs nothing more of the queue than 17:
// the queue applies a pushed delay note as a fetched one.
//
// Version 20 lets the shadow server state its own name (its server.name):
// a client says "NAME" as the last word of its XSHADOW ("XSHADOW
// <server-id> [MARK…] [CODES] NAME"), and the server ends its 250 reply
// with " NAME=<server-name>" — after the database id and the mark
// ("250 2.0.0 <database-id> MARK=<n> NAME=<server-name>"). The client
// tells by it a server it reaches under a second name (a typo or a
// rename in its topology: the stated name is the one it keeps the
// database id as) from a second server running a copy of another's data
// dir (it states its own name, which is not the id's: package delivery,
// receipt.go). A client says NAME only to a server that advertised 20
// (one below answers it 501 5.5.4), and a session that did not say it
// hears the replies of 19 byte for byte. It needs nothing of the queue.
//
// Version 21 adds "XQUERYTAKENDONE <max> HELD BUSY" (shadowtakendone.go):
// the server also lists the copies it took over from the client's
// database that are in delivery there now ("<id> BUSY"), and the client
// keeps its originals of them out of delivery until a later answer
// lists them no more. A client says BUSY only to a server that
// advertised 21; it is offered by a server whose queue tells them
// (BusyTeller).
//
// Version 22 adds "XQUERYTAKENDONE <max> HELD BUSY FROM=<database-id>"
// (shadowtakendone.go): a client restored from a backup also hears of the
// copies taken over from the database it was restored from, those that
// wait here too ("<id> RCPT=<address> TAKEN"). Offered by a server whose
// queue tells them (TakenOverTeller).
//
// Version 23 adds XQUERYKEPT <id>... (shadowkept.go): a primary asks the
// server that keeps its messages' copies which of the copies its records
// name there it has no record of — a holder whose database file was
// copied back from an older copy lost them — and makes them again. A
// client asks only a server that advertised 23; it is offered by a
// server whose queue can tell (KeptTeller).
//
// Version 24 states in each record of a batch of copies the rollback
// mark of that copy's own commit (batch.go, BatchMarkVersion): a discard
// that reached the holder before its copy is placed by the copy's mark,
// not by the batch's highest (rt39 F1). Offered by a server whose queue
// keeps marked copies (MarkedCopier).
const ShadowVersion = BatchMarkVersion

// TakenOverVersion is the shadow verbs version from which XQUERYTAKENDONE
// takes FROM=<database-id> and lists the copies waiting here that were
// taken over from that database ("<id> RCPT=<address> TAKEN").
const TakenOverVersion = 22

// BusyVersion is the shadow verbs version from which XQUERYTAKENDONE
// lists the taken-over copies in delivery ("<id> BUSY").
const BusyVersion = 21

// NameVersion is the shadow verbs version from which the XSHADOW reply
// states the server's own name to a client that says NAME.
const NameVersion = 20

// PushDelayedVersion is the shadow verbs version from which XDISCARD
// carries delay notes ("<id> DELAYED").
const PushDelayedVersion = 19

// DelayNoteDiscarder is a HandBackDiscarder that also keeps delay notes
// (queue.Manager): only then is version 17 offered.
type DelayNoteDiscarder interface {
	// DiscardsDelayed is DiscardsHandBack with the delay notes
	// ("<id> DELAYED") among the partial notifications.
	DiscardsDelayed(serverID string, max int) (lines []string, ack func())
}

// HandBackDiscarder is a PartialDiscarder that also gives messages to
// the holders of their copies (queue.Manager): only then is version 11
// offered.
type HandBackDiscarder interface {
	// DiscardsHandBack is DiscardsPartial with the messages given to
	// serverID after the partial notifications ("<id> TAKEOVER").
	DiscardsHandBack(serverID string, max int) (lines []string, ack func())
}

// PartialDiscarder is a ShadowVerbs that keeps partial discard
// notifications (queue.Manager): only then is version 9 offered.
type PartialDiscarder interface {
	// DiscardsPartial is Discards with the partial notifications after
	// the full ones (queue.PartialDiscard.Wire), up to max in all.
	DiscardsPartial(serverID string, max int) (lines []string, ack func())
}

// MarkKeeper keeps the rollback marks (queue.Manager, marks.go): the
// counter this server presents to each shadow server, and the check of
// a primary's presented mark against the highest seen for it.
type MarkKeeper interface {
	ShadowHolderMark(server string) uint64
	ShadowMarkFloors() map[string]queue.MarkFloor
	ShadowMarkSeen(primary, dbID string, mark uint64, floor queue.MarkFloor) (rolledBack bool, taken int, err error)
}

// MarkedDiscarder lists a shadow server's notifications as discards
// does (partial, takeover, delayed), with the rollback mark this server
// presents to it read in the same read transaction (queue.Manager,
// markedlisting.go): the MARK= of an XQUERYDISCARD reply then proves
// the copy of every discard it lists, and no copy committed after.
type MarkedDiscarder interface {
	DiscardsMarked(serverID string, max int, partial, takeover, delayed bool) (lines []string, mark uint64, ack func())
}

// maxDiscardWait bounds WAIT= (the idle timeout of a connector is longer).
const maxDiscardWait = 60

// DiscardSignaller is implemented by a ShadowVerbs that can tell when a
// discard notification for a shadow server commits (queue.Manager). Only
// then is version 2 offered.
type DiscardSignaller interface {
	// DiscardSignal returns a channel closed at the next commit of a
	// discard notification for serverID.
	DiscardSignal(serverID string) <-chan struct{}
}

// DiscardWatchRecorder is a shadow store (queue.Manager) that counts the
// watch sessions open here: a receipt waits, before its 250, for such a
// session to fetch a discard owed to its server (queue watchfetch.go).
type DiscardWatchRecorder interface {
	// WatchOpened records a watch session of serverID; end forgets it.
	WatchOpened(serverID string) (end func())
}

// watching records the session as its shadow server's watch session
// (DiscardWatchRecorder) at its first long poll; Logout ends it. A
// session that became another server's since (a second XSHADOW after
// STARTTLS) is recorded as that one's.
func (s *session) watching() {
	wr, ok := s.srv.shadow.(DiscardWatchRecorder)
	if !ok || s.shadowServer == "" {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchEnd != nil && s.watchOf == s.shadowServer {
		return
	}
	if s.watchEnd != nil {
		s.watchEnd()
	}
	s.watchOf, s.watchEnd = s.shadowServer, wr.WatchOpened(s.shadowServer)
}

// endWatching forgets the session as a watch session (watching).
func (s *session) endWatching() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchEnd != nil {
		s.watchEnd()
		s.watchOf, s.watchEnd = "", nil
	}
}

// shadowVersion is the version this server advertises, 0 when XSHADOW
// is not offered at all.
func (s *session) shadowVersion() int {
	if _, ok := s.srv.shadow.(DiscardSignaller); !ok {
		return 1
	}
	if _, ok := s.srv.queue.(ShadowCopier); !ok {
		return 2
	}
	if _, ok := s.srv.shadow.(HeldQuerier); !ok {
		return 3
	}
	if _, ok := s.srv.queue.(ShadowBatchCopier); !ok {
		return 5
	}
	if _, ok := s.srv.queue.(MarkKeeper); !ok {
		return 6
	}
	if _, ok := s.srv.shadow.(PartialDiscarder); !ok {
		return 8
	}
	if _, ok := s.srv.shadow.(HandBackDiscarder); !ok {
		return 10 // the database id alone needs nothing more of the queue
	}
	if _, ok := s.srv.shadow.(DroppedNoter); !ok {
		return 11
	}
	if _, ok := s.srv.shadow.(DiscardTaker); !ok {
		return 12
	}
	if _, ok := s.srv.shadow.(TakenDoneTeller); !ok {
		return 14
	}
	if _, ok := s.srv.shadow.(HeldTeller); !ok {
		return 15
	}
	if _, ok := s.srv.shadow.(DelayNoteDiscarder); !ok {
		return 16
	}
	if _, ok := s.srv.shadow.(BusyTeller); !ok {
		return NameVersion // pushed delay notes and the stated name need nothing more of the queue
	}
	if _, ok := s.srv.shadow.(TakenOverTeller); !ok {
		return BusyVersion
	}
	if _, ok := s.srv.shadow.(KeptTeller); !ok {
		return TakenOverVersion
	}
	if _, ok := s.srv.queue.(MarkedCopier); !ok {
		return KeptVersion
	}
	return BatchMarkVersion
}

// cutName takes version 20's NAME off XSHADOW's arguments (its last word,
// after CODES; offered from version 20 on).
func (s *session) cutName(args string) (string, bool) {
	if s.shadowVersion() < NameVersion {
		return args, false
	}
	f := strings.Fields(args)
	if n := len(f); n > 0 && strings.EqualFold(f[n-1], "NAME") {
		return strings.Join(f[:n-1], " "), true
	}
	return args, false
}

// statedName is the " NAME=<server-name>" version 20 ends a 250 XSHADOW
// reply with for a client that said NAME: this server's own name
// (server.name), "" when it has none a reply can carry
// (ValidStatedName).
func (s *session) statedName() string {
	if !ValidStatedName(s.srv.hostname) {
		return ""
	}
	return " NAME=" + s.srv.hostname
}

// ValidStatedName: name can stand as the value of NAME= in an XSHADOW
// reply (version 20): 1 to 255 visible ASCII characters, no "=".
func ValidStatedName(name string) bool {
	if name == "" || len(name) > maxServerID {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == '=' {
			return false
		}
	}
	return true
}

// CutStatedName reads version 20's stated name off the text of a 250
// XSHADOW reply (its code and enhanced code taken off): the last word
// "NAME=<server-name>", the parameter's name in any case. It returns the
// text before it and the name; a text without such a word is returned
// as it is, with no name; ok is false when the word is there but its
// value is no valid name (ValidStatedName): a malformed reply.
func CutStatedName(text string) (rest, name string, ok bool) {
	t := strings.TrimRight(text, " \t")
	i := strings.LastIndexAny(t, " \t")
	w := t[i+1:]
	if len(w) < 5 || !strings.EqualFold(w[:5], "NAME=") {
		return text, "", true
	}
	if !ValidStatedName(w[5:]) {
		return text, "", false
	}
	if i < 0 {
		return "", w[5:], true
	}
	return t[:i], w[5:], true
}

// listLine is one entry line (after the first) of a shadow verb's list
// reply, sep "-" or " ": with the enhanced status code for a session that
// said CODES (version 18), else as every version before wrote it.
func (s *session) listLine(sep, entry string) string {
	if s.codes {
		return "250" + sep + "2.0.0 " + entry
	}
	return "250" + sep + entry
}

// cutCodes takes version 18's CODES off XSHADOW's arguments (its last
// word, offered from version 18 on).
func (s *session) cutCodes(args string) (string, bool) {
	if s.shadowVersion() < 18 {
		return args, false
	}
	f := strings.Fields(args)
	if n := len(f); n > 0 && strings.EqualFold(f[n-1], "CODES") {
		return strings.Join(f[:n-1], " "), true
	}
	return args, false
}

// xshadowKeyword is the EHLO keyword with its version (W-1), or "" when
// this EHLO must not offer it (advertise.go).
func (s *session) xshadowKeyword() string {
	if !s.advertiseNow() {
		return ""
	}
	if v := s.shadowVersion(); v > 1 {
		return fmt.Sprintf("XSHADOW %d", v)
	}
	return "XSHADOW"
}

// parseDiscardArgs reads XQUERYDISCARD's "<max> [WAIT=<seconds>]
// [PARTIAL [TAKEOVER]]" (W-4); WAIT= exists from version 2 on, PARTIAL from 9,
// TAKEOVER from 11.
func (s *session) parseDiscardArgs(arg string) (max int, wait time.Duration, partial, takeover, ok bool) {
	f := strings.Fields(arg)
	if n := len(f); n > 2 && strings.EqualFold(f[n-1], "TAKEOVER") && strings.EqualFold(f[n-2], "PARTIAL") {
		if s.shadowVersion() < 11 {
			return 0, 0, false, false, false
		}
		f, takeover = f[:n-1], true
	}
	if n := len(f); n > 1 && strings.EqualFold(f[n-1], "PARTIAL") {
		if s.shadowVersion() < 9 {
			return 0, 0, false, false, false
		}
		f, partial = f[:n-1], true
	}
	if len(f) == 0 || len(f) > 2 {
		return 0, 0, false, false, false
	}
	max, err := strconv.Atoi(f[0])
	if err != nil || max < 1 || !digitsOnly(f[0]) { // digits only, as every shadow verb's number (verbs40 F3)
		return 0, 0, false, false, false
	}
	if len(f) == 2 {
		k, v, found := strings.Cut(f[1], "=")
		n, err := strconv.Atoi(v)
		if !found || !strings.EqualFold(k, "WAIT") || err != nil || !digitsOnly(v) || n < 1 || n > maxDiscardWait || s.shadowVersion() < 2 {
			return 0, 0, false, false, false
		}
		wait = time.Duration(n) * time.Second
	}
	return max, wait, partial, takeover, true
}

// cutDelayed takes the DELAYED keyword off XQUERYDISCARD's arguments
// ("… PARTIAL TAKEOVER DELAYED", version 17), reporting whether it was
// there; to a session below 17 the argument stays whole (and is refused).
func (s *session) cutDelayed(arg string) (string, bool) {
	f := strings.Fields(arg)
	if n := len(f); n > 3 && strings.EqualFold(f[n-1], "DELAYED") && strings.EqualFold(f[n-2], "TAKEOVER") && s.shadowVersion() >= 17 {
		return strings.Join(f[:n-1], " "), true
	}
	return arg, false
}

// discards is the session's look at the notifications owed to its
// shadow server: the full ones, and the partial ones when its query
// asked for them (version 9), with the messages given to it (11) and
// the delay notes (17).
func (s *session) discards(max int, partial, takeover, delayed bool) ([]string, func()) {
	if dn, ok := s.srv.shadow.(DelayNoteDiscarder); ok && delayed {
		return dn.DiscardsDelayed(s.shadowServer, max)
	}
	if hb, ok := s.srv.shadow.(HandBackDiscarder); ok && takeover {
		return hb.DiscardsHandBack(s.shadowServer, max)
	}
	if pd, ok := s.srv.shadow.(PartialDiscarder); ok && partial {
		return pd.DiscardsPartial(s.shadowServer, max)
	}
	return s.srv.shadow.Discards(s.shadowServer, max)
}

// waitDiscards blocks the session (go-smtp is idle between commands)
// until a discard notification for its shadow server is waiting, wait
// passed, or the drain's last step releases the shadow sessions
// (CloseShadow: after the deliveries stopped, so that the discards they
// prepared during the drain are in the reply, rt27 F3). The signal is
// taken before looking, so that a commit between the look and the wait
// is not missed.
func (s *session) waitDiscards(wait time.Duration, partial, takeover, delayed bool) {
	ds, ok := s.srv.shadow.(DiscardSignaller)
	if !ok || wait <= 0 {
		return
	}
	if idle := s.inForceOrOwn().cfg.Limits.IdleTimeout.D(); idle > 0 && wait > idle/2 { // the layer's deadline is the connector in force's (followLimits)
		wait = idle / 2 // the next command must still arrive within the idle timeout
	}
	t := s.srv.clk.NewTimer(wait)
	defer t.Stop()
	for {
		sig := ds.DiscardSignal(s.shadowServer)
		if ids, _ := s.discards(1, partial, takeover, delayed); len(ids) > 0 {
			return
		}
		select {
		case <-sig:
		case <-t.C():
			return
		case <-s.srv.shadowDone:
			return
		}
	}
}

// peerShadowVersion reads the version in the peer's XSHADOW keyword: a
// bare keyword (or one this client cannot read) is version 1; a newer
// version than ours is spoken as ours.
func peerShadowVersion(c *Client) int {
	_, param := c.Extension("XSHADOW")
	return parseShadowVersion(param)
}

// parseShadowVersion reads the parameter of an XSHADOW EHLO keyword.
func parseShadowVersion(param string) int {
	v, err := strconv.Atoi(strings.TrimSpace(param))
	switch {
	case err != nil || v < 1:
		return 1
	case v > ShadowVersion:
		return ShadowVersion
	}
	return v
}

// WaitDiscard asks for up to max discard notifications and lets the
// primary hold the reply for up to wait until one commits (version 2;
// with a version-1 peer it is QueryDiscard). wait is cut to whole
// seconds, at most a minute.
func (c *Client) WaitDiscard(max int, wait time.Duration) ([]string, error) {
	secs := int(wait / time.Second)
	if c.ShadowVersion < 2 || secs < 1 {
		return c.QueryDiscard(max)
	}
	secs = min(secs, maxDiscardWait)
	if c.markAsked {
		c.readFloor()
	}
	lines, err := c.commandWithin(fmt.Sprintf("XQUERYDISCARD %d WAIT=%d%s", max, secs, c.partialArg()), time.Duration(secs)*time.Second+c.CommandTimeout)
	if err != nil {
		return nil, err
	}
	c.noteQueryMark(lines)
	return discardIDs(c.listed(lines)), nil
}

// readMarkFloors reads the primaries' rollback marks for a session that
// may push copies here (version 7), at the EHLO that offers XSHADOW.
func (s *session) readMarkFloors() {
	if s.shadowVersion() < 7 {
		return
	}
	if mk, ok := s.srv.queue.(MarkKeeper); ok {
		s.markFloors = mk.ShadowMarkFloors()
	}
}

// partialArg is the PARTIAL keyword of XQUERYDISCARD for a peer of
// version 9, "" for an older one.
func (c *Client) partialArg() string {
	if c.ShadowVersion >= 17 {
		return " PARTIAL TAKEOVER DELAYED" // and the delay notes (version 17)
	}
	if c.ShadowVersion >= 11 {
		return " PARTIAL TAKEOVER" // and the messages given to this server (version 11)
	}
	if c.ShadowVersion >= 9 {
		return " PARTIAL"
	}
	return ""
}
