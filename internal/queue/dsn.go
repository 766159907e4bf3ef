package queue

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"umbra/internal/mailaddr"
	"umbra/internal/orgid"
)

// BuildDSN writes an RFC 3464 delivery status notification about the
// recipients m.Rcpts[rcpts] of kind failed, delayed or delivered. It
// carries the original headers (RFC 3462 text/rfc822-headers), or the
// whole message when the sender asked RET=FULL. For SMTPUTF8 messages it
// uses the RFC 6533 global types.
//
// returnLimit (bytes; 0 or less: none) caps the returned content: a RET=FULL message bigger than it comes
// back as its headers only, and a header section bigger than it is cut
// at a field boundary. Otherwise anyone could make umbra reflect
// megabytes of their text to a forged sender address.
//
// The DSN is 7-bit unless the sender's address needs SMTPUTF8
// (DSNNeedsSMTPUTF8; dsn7bit.go): 8-bit content is not returned whole,
// and a header section is made 7-bit.
//
// A DSN goes to the original's sender, often outside the organisation,
// so it shows nothing an outsider could replay or learn the inside from
// (rt44 L1): no X-Umbra- field (none is written, and the returned
// content has them removed, as a copy leaving the organisation does) and
// never the organisation message id, even where a reply it quotes named
// it (sendable). The operator finds the message by this server's queue
// id in the returned Received field, or by the DSN's own id in the
// tracking log.
func BuildDSN(reportingMTA string, m *Message, body []byte, kind Notify, rcpts []int, now, retryUntil time.Time, id ID, returnLimit int64) []byte {
	return buildDSN(reportingMTA, m, body, kind, rcpts, now, retryUntil, id, returnLimit, "", Inside{})
}

// withRealReplies is m, or a copy of it whose recipients among rcpts
// that wait on a dead destination, or for a slot of a busy one, report
// the last real reply their dead or throttle mark carries (realReply),
// from the host their next hop names (deadWaitReply, throttledReply): a
// DSN made during a destination's cool-down or while a retry waits for
// its window says what the remote host said, as any DSN does, not
// umbra's note under the host's name. A mark carrying a takeover's
// note (a copy taken over and not tried here: carryTakeover) is
// reported as the bare mark — what keeps the recipient now, waiting for
// a slot (4.4.5), its destination dead, held, stopped — not as the
// takeover's "451 4.4.0" (sched33: "network or routing problem" for a
// recipient only waiting for a free connection). A recipient held in a
// suspended queue after its next hop answered reports that hop's reply
// from that host (heldHopReply; at its expiry the expiry's reply
// without the hold's words: heldAtExpiry), and holds names its queue,
// which the text part mentions beside the reply (heldMention).
func withRealReplies(m *Message, rcpts []int) (_ *Message, holds map[int]string) {
	var c *Message
	own := func() {
		if c == nil {
			cp := *m
			cp.Rcpts = slices.Clone(m.Rcpts)
			c = &cp
		}
	}
	for _, i := range rcpts {
		if i < 0 || i >= len(m.Rcpts) {
			continue
		}
		reply := m.Rcpts[i].LastReply
		held, hop, host, ok := heldHopReply(m.Rcpts[i])
		if !ok {
			held, hop, ok = heldAtExpiry(reply)
			host = m.Rcpts[i].NextHop
		}
		if ok {
			own()
			c.Rcpts[i].LastReply, c.Rcpts[i].NextHop = hop, host
			if holds == nil {
				holds = map[int]string{}
			}
			holds[i] = held
			continue
		}
		if !isDeadReply(reply) && !isThrottleReply(reply) && !carriesTakeover(reply) {
			continue
		}
		own()
		c.Rcpts[i].LastReply = realReply(reply)
		if bare, ok := withoutTakeover(reply); ok {
			c.Rcpts[i].LastReply = bare
		}
	}
	if c == nil {
		return m, holds
	}
	return c, holds
}

// buildDSN is BuildDSN with a note for the human-readable part about
// what the caller left out of body.
func buildDSN(reportingMTA string, m *Message, body []byte, kind Notify, rcpts []int, now, retryUntil time.Time, id ID, returnLimit int64, note string, in Inside) []byte {
	m, holds := withRealReplies(m, rcpts)
	boundary := fmt.Sprintf("%s.%d/%s", id, now.Unix(), reportingMTA)
	subject, action, intro := "Undelivered Mail Returned to Sender", "failed",
		"Your message could not be delivered to one or more recipients.\r\n%s; the reasons follow.\r\n"
	switch kind {
	case NotifyDelay:
		subject, action = "Delayed Mail (still being retried)", "delayed"
		intro = fmt.Sprintf("Your message has not been delivered yet to the recipients below.\r\n"+
			"umbra keeps trying until %s; you need not send it again.\r\n",
			retryUntil.Format(time.RFC1123Z))
	case NotifySuccess:
		subject, action = "Successful Mail Delivery Report", "delivered"
		intro = successIntro(m, rcpts)
	}
	// A DSN to an ASCII sender is 7-bit (dsn7bit.go); one to a UTF-8
	// sender address is SMTPUTF8 and uses the RFC 6533 global types.
	global := DSNNeedsSMTPUTF8(m)
	statusType, headersType := "message/delivery-status", "text/rfc822-headers"
	if global {
		statusType, headersType = "message/global-delivery-status", "message/global-headers"
	}
	// RFC 8689 §5: a REQUIRETLS message's DSN returns its headers only,
	// whatever RET says.
	original, full, notes := returnedContent(body, m.RetFull && kind == NotifyFailure && !m.RequireTLS, returnLimit, !global)
	if note == "" {
		note = retFullNote(m, kind)
	}
	if note != "" {
		notes = append([]string{note}, notes...)
	}
	if n := unansweredNote(m, rcpts, kind); n != "" {
		notes = append(notes, n)
	}
	original, _ = orgid.Strip(original)
	// The part is labelled for what it holds and for what happened to
	// the message: a success or delay report returns the headers of a
	// message that was delivered or is still being tried.
	description, attached := "Message headers", "Its header section is attached below"
	if kind == NotifyFailure {
		description = "Undelivered message headers"
	}
	if full {
		original, headersType, description, attached = body, "message/rfc822", "Undelivered message", "It is attached below"
		if global {
			headersType = "message/global"
		}
	}
	if kind == NotifyFailure {
		intro = fmt.Sprintf(intro, attached)
	}
	var text strings.Builder
	text.WriteString("This is the mail system at " + reportingMTA + ".\r\n\r\n" + intro + "\r\n")
	for _, n := range notes {
		text.WriteString(n + "\r\n\r\n")
	}
	for _, i := range rcpts {
		r, _ := dsnRecipient(m.Rcpts[i], kind)
		shown := shownReply(m, r, kind, in)
		if noHostReply(r.LastReply, r.NextHop, r.Queue, kind) {
			shown = notAttempted(m, r, kind, in) // no host's reply to quote (dsnown.go)
		}
		if queue, ok := holds[i]; ok {
			shown += heldMention(queue, kind, in.Sender(m.From)) // the hold beside the hop's reply (heldover.go)
		}
		text.WriteString("<" + plainText(r.Addr, false) + ">: " + plainText(oneLine(shown), false) + "\r\n")
	}
	cte, readable := readablePart(foldedText(text.String()))

	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", reportingMTA)
	w("To: <%s>", m.From)
	w("Subject: %s", subject)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: %s", dsnMessageID(id, reportingMTA))
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("This is a MIME-encapsulated message.")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Description: Notification")
	if cte != "" {
		w("%s", cte)
	}
	w("")
	b.WriteString(readable)
	if !strings.HasSuffix(readable, "\r\n") {
		b.WriteString("\r\n")
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: %s", statusType)
	w("Content-Description: Delivery report")
	w("")
	statusAt := b.Len() // its fields are held to maxLine below (a next hop's long reply)
	w("Reporting-MTA: dns; %s", reportingMTA)
	if m.EnvID != "" {
		w("Original-Envelope-Id: %s", dsnText(m.EnvID, global))
	}
	w("Arrival-Date: %s", m.OrgReceived().Format(time.RFC1123Z)) // the organisation's (RFC 3464 §2.2.5), which no release moves
	for _, i := range rcpts {
		r, status := dsnRecipient(m.Rcpts[i], kind)
		w("")
		w("Final-Recipient: %s", xtextAddr(r.Addr, global))
		if r.ORcpt != "" {
			w("Original-Recipient: %s", originalRecipient(r.ORcpt, global))
		}
		w("Action: %s", dsnAction(kind, r, action))
		w("Status: %s", status)
		if host, _ := dsnReporter(r, in); host != "" {
			w("Remote-MTA: dns; %s", host)
		}
		// RFC 3464 §2.3.6: the Diagnostic-Code is the reply of the remote
		// server, type smtp, and only that (remoteDiagnostic): umbra's own
		// reasons — a hold, an expiry, a removal, a host that did not
		// answer, a slot not free yet, the stop — are said by the Status
		// and the text part, never dressed as a server's reply.
		if diag := remoteDiagnostic(m, r, kind, in); diag != "" {
			w("Diagnostic-Code: smtp; %s", dsnText(diag, global))
		}
		if kind == NotifyDelay {
			w("Will-Retry-Until: %s", retryUntil.Format(time.RFC1123Z))
		}
	}
	if hasLongLine(b.Bytes()[statusAt:]) {
		folded, _ := foldLongLines(bytes.Clone(b.Bytes()[statusAt:]))
		b.Truncate(statusAt)
		b.Write(folded)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: %s", headersType)
	w("Content-Description: %s", description)
	w("")
	b.Write(original)
	if !bytes.HasSuffix(original, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	w("")
	w("--%s--", boundary)
	return b.Bytes()
}

// returnedContent picks what a DSN returns: the whole body when full is
// asked and it fits in limit (and, sevenBit, has no byte above 127),
// else the header section, made 7-bit when sevenBit (sevenBitHeader),
// cut at the last field boundary within limit. notes tell the reader
// what was left out.
func returnedContent(body []byte, full bool, limit int64, sevenBit bool) (content []byte, isFull bool, notes []string) {
	if full && limit > 0 && int64(len(body)) > limit {
		notes = append(notes, fmt.Sprintf("The message was larger than %d bytes; only its headers are returned.", limit))
	} else if full && sevenBit && Has8bit(body) {
		notes = append(notes, "The message has 8-bit content, which this report cannot carry; only its headers are returned.")
	} else if full && hasLongLine(body) {
		notes = append(notes, fmt.Sprintf("The message has lines longer than %d characters, which this report cannot carry; only its headers are returned.", maxLine))
	} else if full {
		return body, true, nil
	}
	h := headersOf(body)
	if sevenBit && Has8bit(h) {
		var dropped []string
		h, dropped = sevenBitHeader(h)
		if len(dropped) > 0 {
			notes = append(notes, "Header fields of the message that cannot be written in 7-bit text are left out: "+
				fieldList(dropped))
		}
	}
	if hasLongLine(h) {
		var cut []string
		if h, cut = foldLongLines(h); len(cut) > 0 {
			notes = append(notes, fmt.Sprintf("Header fields of the message with lines longer than %d characters and no place to fold them are cut: %s",
				maxLine, fieldList(cut)))
		}
	}
	if limit <= 0 || int64(len(h)) <= limit {
		return h, false, notes
	}
	return cutFields(h, limit), false, append(notes, fmt.Sprintf("The message's header section was larger than %d bytes; it is cut.", limit))
}

// cutFields is the header section h cut at the last field boundary
// within limit bytes (a folded field is never split).
func cutFields(h []byte, limit int64) []byte {
	if int64(len(h)) <= limit {
		return h
	}
	cut := 0
	for i := 0; i+2 < len(h) && int64(i+2) <= limit; i++ {
		if h[i] == '\r' && h[i+1] == '\n' && h[i+2] != ' ' && h[i+2] != '\t' {
			cut = i + 2 // a new field starts at i+2
		}
	}
	return h[:cut]
}

// originalRecipient is the Original-Recipient field of an ORCPT kept as
// "type;address" (the address xtext-decoded): a utf-8 or non-ASCII
// address as xtextAddr writes it.
func originalRecipient(orcpt string, global bool) string {
	typ, addr, ok := strings.Cut(orcpt, ";")
	if !ok {
		return dsnText(orcpt, global)
	}
	addr = oneLine(addr)
	if strings.EqualFold(typ, "utf-8") || !isASCII(addr) {
		return "utf-8; " + utf8AddrText(addr, global)
	}
	return oneLine(orcpt)
}

// headersOf returns the header section of a message, through its
// terminating empty line.
func headersOf(body []byte) []byte {
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		return body[:i+2]
	}
	return body
}

// statusOf picks the RFC 3463 status of a recipient from its last reply
// ("550 5.1.1 …" gives 5.1.1), falling back to the reply class. The
// reply is the next hop's: a status of another class than its code
// ("550 2.1.1") or a success class in a failure or delay is not taken.
// A success's is the reply's own 2.x.y when its code is a 2yz (an LMTP
// server's "250 2.1.5", a relay's "251 2.1.5": RFC 3464 §2.3.4), else
// 2.0.0.
func statusOf(reply string, kind Notify) string {
	f := strings.Fields(reply)
	if kind == NotifySuccess {
		if len(f) >= 2 && len(f[0]) == 3 && f[0][0] == '2' && isStatusCode(f[1]) && f[1][0] == '2' {
			return f[1] // the host's own: an LMTP server's 2.1.5, a relay's 251 2.1.5
		}
		return "2.0.0"
	}
	if len(f) >= 2 && isStatusCode(f[1]) && f[1][0] != '2' && (len(f[0]) != 3 || f[0][0] == f[1][0]) {
		return f[1]
	}
	if len(f) >= 1 && len(f[0]) == 3 && (f[0][0] == '4' || f[0][0] == '5') && kind == NotifyFailure {
		if f[0][0] == '4' {
			// A transient reply fails a recipient only when its
			// retries ran out: delivery time expired (RFC 3463
			// X.4.7), what the sender needs, not 4.0.0.
			return "4.4.7"
		}
		return "5.0.0"
	}
	if kind == NotifyDelay {
		return "4.0.0"
	}
	return "5.0.0"
}

func isStatusCode(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || len(p[0]) != 1 || (p[0][0] != '2' && p[0][0] != '4' && p[0][0] != '5') {
		return false
	}
	for _, x := range p[1:] {
		if x == "" || len(x) > 3 || strings.Trim(x, "0123456789") != "" {
			return false
		}
	}
	return true
}

// remoteMTA strips the port and address decoration from a next hop
// ("name[ip]:port", "name:port"). A host named by its address (a smart
// host written as one: "2001:db8::7[2001:db8::7]:25") is written as an
// RFC 5321 §4.1.3 address literal, "[IPv6:2001:db8::7]", "[192.0.2.7]".
func remoteMTA(hop string) string {
	if hop == "" || hop == "maildir" || IsLMTPHop(hop) {
		return ""
	}
	name := hop
	if i := strings.IndexByte(hop, '['); i > 0 {
		name = hop[:i]
	} else if i := strings.IndexByte(hop, ':'); i > 0 && strings.Count(hop, ":") == 1 {
		name = hop[:i]
	}
	if lit, ok := mailaddr.AddressLiteral(name); ok {
		return lit
	}
	return name
}

func oneLine(s string) string {
	return lineBreaksToSpaces.Replace(s)
}

var lineBreaksToSpaces = strings.NewReplacer("\r", " ", "\n", " ") // built once

// retFullNote is why a DSN of kind for m returns the header section
// although its sender asked RET=FULL, when that is not for the size or
// the content (returnedContent says those): RET=FULL asks for the whole
// message in a failure report only (RFC 3461 §4.3), and a REQUIRETLS
// message's report returns its headers whatever RET says (RFC 8689 §5).
func retFullNote(m *Message, kind Notify) string {
	switch {
	case !m.RetFull:
		return ""
	case kind != NotifyFailure:
		return "The sender asked for the whole message to be returned (RET=FULL), which applies to a report of failure only; only its headers are returned."
	case m.RequireTLS:
		return "The message was sent with REQUIRETLS, whose reports do not carry its content; only its headers are returned."
	}
	return ""
}

// sendable is a reply as a DSN may quote it: without the organisation
// message id (orgID), in any case of its hex digits. No reply umbra
// writes names it; a server of the organisation's might.
func sendable(reply, orgID string) string {
	if orgID == "" || len(reply) < len(orgID) {
		return reply
	}
	lower := []byte(reply) // ASCII letters folded only: the same length, so its indexes are reply's
	for i, c := range lower {
		if 'A' <= c && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	var b strings.Builder
	for at := 0; ; {
		i := bytes.Index(lower[at:], []byte(orgID))
		if i < 0 {
			b.WriteString(reply[at:])
			return b.String()
		}
		b.WriteString(reply[at : at+i])
		b.WriteString("(id withheld)")
		at += i + len(orgID)
	}
}

// Words of delivery's reply (delivery finalReplyMissing, smtp
// FinalReplyError) for a message sent whole, up to its final dot, whose
// reply never came or could not be read: no reply within the data
// timeout, a reply that does not parse (or a stray 3xx), or the
// connection closed after the dot. RFC 1047: the next hop may have the
// message — an unreadable reply as much as a silent one: whatever the
// next hop meant by it, it had the whole message.
const (
	unansweredTimeout    = " waiting for the reply to the end of the message"
	unansweredUnreadable = ": unreadable reply to the end of the message: "
	unansweredClosed     = ": connection lost during DATA: reply to the end of the message: "
)

// MayHaveArrived reports whether reply says that the message was sent
// whole and no readable reply to its end came (the words above): the
// next hop may already have it.
func MayHaveArrived(reply string) bool {
	return strings.Contains(reply, unansweredTimeout) || strings.Contains(reply, unansweredUnreadable) ||
		strings.Contains(reply, unansweredClosed)
}

// unansweredNote is the DSN's word to the sender when a recipient
// reported waits (or failed) after its next hop took the whole message
// and never answered its end: the message may be there already (RFC
// 1047), so the report is not the last word.
func unansweredNote(m *Message, rcpts []int, kind Notify) string {
	if kind == NotifySuccess {
		return ""
	}
	for _, i := range rcpts {
		if i < len(m.Rcpts) && MayHaveArrived(m.Rcpts[i].LastReply) {
			if kind == NotifyFailure {
				return "The whole message reached the next hop, which never gave a readable answer to its end: " +
					"it may already have the message, and a recipient may receive it although this report says it was not delivered."
			}
			return "The whole message reached the next hop, which never gave a readable answer to its end: " +
				"it may already have the message, so a recipient may receive it twice when it is sent again."
		}
	}
	return ""
}
