package orgid

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"umbra/internal/header"
)

// Header is the name of the header carrying the organisation message id.
const Header = "X-Umbra-Org-Id"

// Prefix starts the name of every header umbra trusts; the header
// firewall removes them all from mail that did not come from an
// authenticated transport server of the organisation.
const Prefix = "X-Umbra-"

// New returns a fresh organisation message id: 128 random bits in hex.
func New() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("orgid: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// Valid reports whether s has the form New writes.
func Valid(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Line is the header line that carries id, CRLF-terminated.
func Line(id string) string { return Header + ": " + id + "\r\n" }

// OriginHeader carries, inside the organisation, that a message
// originated there (queue.Message.Internal, OriginInternal): umbra
// DKIM-signs it when it leaves. Like Header it is umbra's own (Prefix),
// removed on receipt and believed only from a transport server of the
// organisation.
const OriginHeader = "X-Umbra-Origin"

// OriginInternal is the value of OriginHeader for mail that originated
// inside the organisation.
const OriginInternal = "internal"

// Internal reports whether the header section of msg says the message
// originated inside the organisation (an OriginHeader field of value
// OriginInternal). Only a transport server of the organisation is
// believed: the caller asks only of its mail.
func Internal(msg []byte) bool {
	for _, v := range header.Values(msg, OriginHeader) {
		if strings.EqualFold(v, OriginInternal) {
			return true
		}
	}
	return false
}

// ArrivedHeader carries, inside the organisation, when the organisation
// first received the message (queue.Message.OrgArrived), in Unix
// seconds: every umbra server counts message_expiration, the delay
// notification and a DSN's Arrival-Date from it, not from its own
// receipt (rt21d M3). DelayNotifiedHeader says that a server already
// sent the sender the "delayed" DSN (queue.Message.DelayNotified): no
// later server sends another (M2). Both are umbra's own (Prefix):
// written by delivery from the record next to the id, stripped on
// receipt, believed only from a transport server of the organisation,
// never sent out of it.
const (
	ArrivedHeader       = "X-Umbra-Arrived"
	DelayNotifiedHeader = "X-Umbra-Delay-Notified"
)

// RepeatHeader says, inside the organisation, that the copy may repeat
// a mailbox write another server made and lost the commit of
// (queue.Message.MayRepeat): a copy taken over from a primary, which
// may have written it into a shared Maildir store and died before its
// commit, or handed on by the server that took it over. A hub that
// finds it in the mailbox keeps its dumpster copy, as the server that
// took it over would have. Like the others it is umbra's own (Prefix):
// written by delivery from the record on a copy it relays, stripped on
// receipt, believed only with a kept id, never sent out of the
// organisation. A release that does not know it strips it as any
// X-Umbra- field and keeps what it kept before.
const RepeatHeader = "X-Umbra-Repeat"

// GrownHeader carries, inside the organisation, how many bytes of the
// message umbra's servers added to it besides their trace fields
// (queue.Message.Grown: an Authentication-Results field, a CR before
// each bare LF, the empty line after a header section that had none),
// so that the next hub holds its size limits to the message as its
// sender sent it, not to what the organisation made of it. Like the
// others it is umbra's own (Prefix): written by delivery from the
// record, stripped on receipt, believed only with a kept id. A release
// that does not know it strips it, and counts those bytes as the
// sender's.
const GrownHeader = "X-Umbra-Grown"

// ReceivedHeader carries, inside the organisation, when it first
// received the message (queue.Message.OrgReceived), in Unix seconds,
// where that is earlier than ArrivedHeader's time: a release from an
// operator's hold moved the age clock ArrivedHeader carries (expiry and
// delay notice count from it, on every server, so that a shadow holder
// takes its copy over no earlier than the primary gives up), and the
// receipt travels apart, for the next server's message show and its
// DSN's Arrival-Date. Like the others it is umbra's own (Prefix):
// written by delivery from the record, stripped on receipt, believed
// only with a kept id. A release that does not know it strips it and
// names ArrivedHeader's time as the receipt, as before.
const ReceivedHeader = "X-Umbra-Received-At"

// CarriedReceived reads the organisation's first receipt a transport
// server of it named (ReceivedHeader): the zero time when there is no
// well-formed field. As for Carried, only a transport server's mail is
// asked.
func CarriedReceived(msg []byte) time.Time {
	for _, v := range header.Values(msg, ReceivedHeader) {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 && n < 1<<40 {
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}

// Record is what delivery writes from a queue record in front of every
// copy it sends inside the organisation: the id, the origin, the
// organisation's arrival time, whether the delay notice went, and the
// bytes umbra's servers added.
type Record struct {
	ID            string
	Internal      bool
	Arrived       time.Time // zero: not written
	DelayNotified bool
	Repeat        bool  // RepeatHeader; only with an id
	Grown         int64 // GrownHeader; only with an id, and above 0
	// Received is the first receipt (ReceivedHeader): written only with
	// an id and an Arrived, when it is earlier than Arrived by a second
	// or more.
	Received time.Time
}

// CarriedGrown reads how many bytes a transport server of the
// organisation said umbra's servers added to the message (GrownHeader):
// 0 when there is no well-formed field. As for Carried, only a
// transport server's mail is asked.
func CarriedGrown(msg []byte) int64 {
	for _, v := range header.Values(msg, GrownHeader) {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 && n < 1<<40 {
			return n
		}
	}
	return 0
}

// Carried reads what a transport server of the organisation said about
// the message's first arrival and its delay notice (ArrivedHeader,
// DelayNotifiedHeader) from its header section: the zero time when
// there is no well-formed arrival field. Only a transport server of the
// organisation is believed: the caller asks only of its mail.
func Carried(msg []byte) (arrived time.Time, delayNotified bool) {
	for _, v := range header.Values(msg, ArrivedHeader) {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 && n < 1<<40 {
			arrived = time.Unix(n, 0)
			break
		}
	}
	for _, v := range header.Values(msg, DelayNotifiedHeader) {
		if strings.EqualFold(strings.TrimSpace(v), "yes") {
			delayNotified = true
		}
	}
	return arrived, delayNotified
}

// CarriedRepeat reads whether a transport server of the organisation
// said that the copy may repeat a lost mailbox write (RepeatHeader
// "yes"). As for Carried, only a transport server's mail is asked.
func CarriedRepeat(msg []byte) bool {
	for _, v := range header.Values(msg, RepeatHeader) {
		if strings.EqualFold(strings.TrimSpace(v), "yes") {
			return true
		}
	}
	return false
}

// recordLines are the header lines delivery writes from a record: the
// id's, the OriginHeader line when internal, and with an id the
// arrival's and the delay notice's.
func recordLines(r Record) string {
	l := ""
	if r.ID != "" {
		l = Line(r.ID)
	}
	if r.Internal {
		l += OriginHeader + ": " + OriginInternal + "\r\n"
	}
	if r.ID != "" && !r.Arrived.IsZero() {
		l += ArrivedHeader + ": " + strconv.FormatInt(r.Arrived.Unix(), 10) + "\r\n"
	}
	if r.ID != "" && r.DelayNotified {
		l += DelayNotifiedHeader + ": yes\r\n"
	}
	if r.ID != "" && r.Repeat {
		l += RepeatHeader + ": yes\r\n"
	}
	if r.ID != "" && r.Grown > 0 {
		l += GrownHeader + ": " + strconv.FormatInt(r.Grown, 10) + "\r\n"
	}
	if r.ID != "" && !r.Arrived.IsZero() && !r.Received.IsZero() && r.Received.Unix() < r.Arrived.Unix() {
		l += ReceivedHeader + ": " + strconv.FormatInt(r.Received.Unix(), 10) + "\r\n"
	}
	return l
}

// PrependRecord is Prepend with the lines of r (recordLines): what
// delivery writes from a record in front of every copy it sends inside
// the organisation.
func PrependRecord(r Record, body []byte) []byte {
	l := recordLines(r)
	if l == "" {
		return body
	}
	at := insertAt(body)
	out := make([]byte, 0, len(l)+len(body))
	out = append(out, body[:at]...)
	out = append(out, l...)
	return append(out, body[at:]...)
}

// PartsRecord is PrependRecord without the copy, as Parts is Prepend's.
func PartsRecord(r Record, body []byte) [][]byte {
	l := recordLines(r)
	if l == "" {
		return [][]byte{body}
	}
	at := insertAt(body)
	return [][]byte{body[:at], []byte(l), body[at:]}
}

// Prepend returns the message with the header line of id added (a new
// slice; body is not changed): after the first header field when that is
// a Received trace field — the trace field of this server, which stays
// first, with the id as an optional field of its trace block (RFC 5322
// §3.6: trace *optional-field) — else at the top. An empty id leaves
// body as it is.
func Prepend(id string, body []byte) []byte {
	if id == "" {
		return body
	}
	l := Line(id)
	at := insertAt(body)
	out := make([]byte, 0, len(l)+len(body))
	out = append(out, body[:at]...)
	out = append(out, l...)
	return append(out, body[at:]...)
}

// Parts is Prepend without the copy: the message as the pieces to send
// one after the other (body is not changed; every piece but the last
// ends with a line feed).
func Parts(id string, body []byte) [][]byte {
	if id == "" {
		return [][]byte{body}
	}
	at := insertAt(body)
	return [][]byte{body[:at], []byte(Line(id)), body[at:]}
}

// insertAt is where Prepend puts the id line.
func insertAt(body []byte) int {
	at := 0
	if len(body) >= 9 && strings.EqualFold(string(body[:9]), "Received:") {
		for {
			i := bytes.Index(body[at:], []byte("\r\n"))
			if i < 0 {
				at = 0 // not a header section umbra wrote: at the top
				break
			}
			at += i + 2
			if at >= len(body) || body[at] != ' ' && body[at] != '\t' {
				break
			}
		}
	}
	return at
}

// Strip removes every header field whose name starts with Prefix
// (case-insensitively, continuation lines included) from the header
// section of msg, and returns the message and the value of the first
// Header field it removed, trimmed ("" if none; a folded value keeps its
// first line only, which Valid then refuses). Only the header section
// is looked at: it ends at the first empty line, at the first line that
// is neither a field (header.FieldStart) nor a continuation, where the
// receive side ends it, or at the end of msg; the rest comes back byte
// for byte. msg is not changed when there is nothing to remove.
func Strip(msg []byte) (out []byte, found string) {
	pos, drop, removed := 0, false, false
	var keep []byte
	seen := false
	for pos < len(msg) {
		end := bytes.Index(msg[pos:], []byte("\r\n"))
		next := len(msg)
		line := msg[pos:]
		if end >= 0 {
			line, next = msg[pos:pos+end], pos+end+2
		}
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			if pos == 0 {
				break // continues no field: the body starts here
			}
		} else {
			if kind, _ := header.FieldStart(line); kind != header.Field {
				break // no field: the body starts here (package smtp ends the header section so)
			}
			drop = false
			if name, value, ok := bytes.Cut(line, []byte(":")); ok && hasPrefixFold(bytes.TrimSpace(name), Prefix) {
				drop = true
				if !seen && strings.EqualFold(string(bytes.TrimSpace(name)), Header) {
					seen, found = true, strings.TrimSpace(string(value))
				}
			}
		}
		if drop {
			if !removed {
				keep = append(make([]byte, 0, len(msg)), msg[:pos]...)
				removed = true
			}
		} else if removed {
			keep = append(keep, msg[pos:next]...)
		}
		pos = next
	}
	if !removed {
		return msg, found
	}
	return append(keep, msg[pos:]...), found
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}
