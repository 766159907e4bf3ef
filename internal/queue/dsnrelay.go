package queue

import (
	"strings"
	"time"
)

// RFC 3461 relay semantics of success DSNs (§6.2): a recipient delivered
// into a mailbox here is reported "delivered"; one handed to a next hop
// that took the DSN parameters is not reported here at all (the manager
// sends no success DSN for it: Result.DSNPassed); one handed to a next
// hop that does not speak DSN is reported "relayed" — this server no
// longer knows what became of it.

// dsnAction is the Action field of a recipient in a DSN of kind.
func dsnAction(kind Notify, r Recipient, def string) string {
	if kind == NotifySuccess && (r.Status == Relayed || r.Status == Shadowed) {
		return "relayed"
	}
	return def
}

// successIntro is the human-readable part of a success DSN.
func successIntro(m *Message, rcpts []int) string {
	for _, i := range rcpts {
		if dsnAction(NotifySuccess, m.Rcpts[i], "") == "relayed" {
			return "Your message was delivered to the recipients below, or relayed to a\r\n" +
				"next hop that does not report delivery (Action: relayed).\r\n"
		}
	}
	return "Your message was delivered to the recipients below.\r\n"
}

// dsnReporter says who reported a recipient's status (RFC 3464 §2.3.5,
// §2.3.6). mta is the Remote-MTA field: the host whose answer
// LastReply reports, "" when no remote MTA reported anything — umbra
// decided alone (a null MX, a domain or MX host without address, a
// route, a connector, a TLS policy before any session, a host that did
// not answer, this server as next hop, the operator) — and "" for a
// server of the organisation (relays to a site, legacy routing groups,
// mailbox servers, primaries of shadow copies, an operator's redirect
// target, and what in says is inside are never shown to the sender). smtp is true when LastReply is that MTA's own
// SMTP reply (Diagnostic-Code type smtp), false when it is umbra's own
// diagnostic, which a DSN gives no Diagnostic-Code (remoteDiagnostic).
//
// It reads what delivery writes (queue.Result): NextHop is a host as
// name[address]:port only when a host was tried — a domain, a queue, a
// connector, "routing" or "maildir" is where umbra decided, and a
// content unreadable here is never the host's (UnreadableReply) ("lmtp" is
// the local mailbox store: its replies are smtp, never a Remote-MTA) — and
// umbra's own diagnostic about a host names that host in its text (a
// remote reply does not), as "<host> does not support X" when it is
// decided from the host's EHLO answer (5.6.3, REQUIRETLS): that host
// reported the status, in umbra's words. The SMTPUTF8 refusals
// (utf8reply.go) are decided so too but name no host: they are
// recognised by their text.
func dsnReporter(r Recipient, in Inside) (mta string, smtp bool) {
	reply, expired := r.LastReply, false
	if _, last, ok := splitExpired(reply); ok {
		reply, expired = last, true // the status is umbra's; the host is the one quoted
	}
	hop := r.NextHop
	if strings.HasPrefix(reply, unreadablePrefix) || umbraNote(reply) {
		// Not the host's: a content unreadable here, or umbra's own
		// note (the operator's hold here, a throttle or a dead mark
		// with no host's reply, the stop) — whatever host the record
		// still names from an earlier attempt (a hold kept it beside
		// its words before sched26; a throttle and the stop keep it).
		return "", false
	}
	if IsLMTPHop(hop) { // the mailbox store's own reply, or umbra's words about it
		return "", !expired && !lmtpOwn(reply)
	}
	host := remoteMTA(hop)
	// A host tried is "name[address]:port", or a server of the
	// organisation named alone in its route's queue (orgServerHop: a
	// relay through its shadow session), whose reply is its own too.
	if host == "" || !strings.Contains(hop, "[") && !orgServerHop(hop, r.Queue) || reply == "" {
		return "", false
	}
	// A remote reply is quoted as it came; umbra's own words about the
	// host name it.
	own := strings.Contains(reply, hop) || smtputf8Refusal(reply)
	if own && !strings.Contains(reply, hop+" does not support ") && !smtputf8Refusal(reply) {
		return "", false // it did not answer, or umbra refused it before any session
	}
	smtp = !own && !expired
	if in.hopInside(r) {
		return "", smtp
	}
	return host, smtp
}

// remoteDiagnostic is what a DSN of kind about m gives as r's
// Diagnostic-Code (r as dsnRecipient reports it): the reply of the
// remote server that reported the status (dsnReporter's smtp: an
// outside host, a server of the organisation, the mailbox store's LMTP
// server), as shownReply shows it to m's sender — for an expiry, the
// remote reply it last had. "" when the reply is umbra's own words (a
// hold, a slot not free, the stop, a dead mark, a host that did not
// answer, a route, a removal, a quarantine, an expiry after any of
// them): a Diagnostic-Code quotes only a remote server, umbra's reasons
// are said by the Status and the text part.
func remoteDiagnostic(m *Message, r Recipient, kind Notify, in Inside) string {
	if _, last, ok := splitExpired(r.LastReply); ok {
		r.LastReply, kind = last, NotifyDelay // the reply it had while it waited (describedReply)
	}
	if r.LastReply == "" || umbraNote(r.LastReply) || hostStoppedAnswering(r.LastReply, r.NextHop) || hostUnreachedReply(r.LastReply, r.NextHop, r.Queue) {
		return "" // no server's reply: a note of umbra's, or a host that stopped answering (dsnown.go)
	}
	if _, smtp := dsnReporter(r, in); !smtp {
		return ""
	}
	return shownReply(m, r, kind, in)
}

// LMTPHop is the next hop of a recipient delivered or deferred over LMTP
// to the mailbox store at addr (mailbox.lmtp as configured: host:port
// or unix:/path): "lmtp:" and the address, short, as a relay names its
// host (rt38 F3: the bare "lmtp" named no server).
func LMTPHop(addr string) string { return "lmtp:" + addr }

// IsLMTPHop reports whether hop is the mailbox store's LMTP server
// (LMTPHop; the bare "lmtp" of records written before it named one).
func IsLMTPHop(hop string) bool { return hop == "lmtp" || strings.HasPrefix(hop, "lmtp:") }

// LMTPUnreachable, LMTPGreetingFailed and LMTPMailboxBusy begin umbra's
// own diagnostics about the mailbox store's LMTP server (delivery,
// local.go; mailboxturn.go: a recipient deferred while its mailbox was
// in another transaction of this server, or whose turn came after the
// session ended).
const (
	LMTPUnreachable    = "451 4.4.1 LMTP server unreachable: "
	LMTPGreetingFailed = "451 4.4.2 LMTP greeting failed: "
	LMTPMailboxBusy    = "451 4.2.1 lmtp: mailbox busy "
)

// lmtpOwnTexts begin every diagnostic of umbra's own about the LMTP
// session, code and status included: the two above, delivery's words
// about the session as about any host, its hop "lmtp" first
// (transaction.go: the connection lost, an unexpected reply, an error),
// and a content refusal decided from the server's LHLO answer
// (eightbit.go).
var lmtpOwnTexts = []string{
	LMTPUnreachable,
	LMTPGreetingFailed,
	LMTPMailboxBusy,
	"451 4.4.2 lmtp: ",
	ReplyRcptNeedsSMTPUTF8, // utf8reply.go: decided from the LHLO answer too
	ReplySenderNeedsSMTPUTF8,
	ReplyHeadersNeedSMTPUTF8,
	"550 5.6.3 lmtp does not support ",
}

// lmtpOwn reports whether reply, of a recipient whose next hop is the
// mailbox store's LMTP server, is umbra's own words about the session,
// not that server's reply: it begins as one of lmtpOwnTexts (rt27d F3:
// any reply that said "lmtp" was taken for umbra's — "550 5.2.2 mailbox
// full (lmtp)" was labelled X-Umbra, the same reply without the word
// smtp).
func lmtpOwn(reply string) bool {
	for _, p := range lmtpOwnTexts {
		if strings.HasPrefix(reply, p) {
			return true
		}
	}
	return false
}

// openingHostReply is reply as a DSN quotes it when it is delivery's
// deferral of a session whose opening a host answered with a refusal
// ("451 4.4.2 greeting from HOST: 421 4.3.2 busy", "… reply to EHLO
// from HOST: …", "451 4.7.0 authentication to HOST failed: 535 …", or
// whose MAIL, RCPT or DATA it answered out of step (an LMTP server the
// end of the message too, EndOfMessage): "451 4.4.2 HOST: out of step
// at MAIL: 503 5.5.1 …"; a
// refused STARTTLS where TLS is required: "451 4.7.5 HOST: STARTTLS
// refused: 454 …"): the
// host's own reply, which dsnReporter then names the host for (type
// smtp); inside an expiry's reply its last reply so; ok false, reply
// unchanged, for any other. hop is the recipient's NextHop, the host as
// delivery names it in those words.
func openingHostReply(reply, hop string) (string, bool) {
	if code, last, ok := splitExpired(reply); ok {
		if h, ok := openingHostReply(last, hop); ok {
			age, _, _ := strings.Cut(strings.TrimPrefix(reply, code+expiredText), lastReplyText)
			return code + expiredText + age + lastReplyText + h, true
		}
		return reply, false
	}
	if !strings.Contains(hop, "[") {
		return reply, false
	}
	for _, pre := range [...]string{
		OpeningFailedReply("greeting", hop, ""),
		OpeningFailedReply("reply to EHLO", hop, ""),
		AuthFailedReply(hop, ""),
		// A reply to MAIL, RCPT or DATA out of step (delivery's
		// out-of-step rule, transaction.go): the host's own reply.
		OutOfStepReply(hop, "MAIL", ""),
		OutOfStepReply(hop, "RCPT", ""),
		OutOfStepReply(hop, "DATA", ""),
		OutOfStepReply(hop, EndOfMessage, ""), // an LMTP server's, per recipient
	} {
		if rest, ok := strings.CutPrefix(reply, pre); ok && smtpReply(rest) {
			return rest, true
		}
	}
	// A STARTTLS the host refused where TLS is required (the
	// connector's tls, a DANE or MTA-STS policy, REQUIRETLS): umbra's
	// 451 4.7.5 names the host, then its policy if any, then the
	// host's reply ("451 4.7.5 HOST: STARTTLS refused: 454 …", "451
	// 4.7.5 REQUIRETLS: no host of … offered verified TLS: 451 4.7.5
	// HOST: mta-sts policy of D: STARTTLS refused: …", "451 4.7.5
	// REQUIRETLS: no verified TLS to HOST: STARTTLS refused: …"). A
	// handshake that failed has no reply: umbra's words stay.
	if strings.HasPrefix(reply, "451 4.7.5 ") {
		if i := strings.Index(reply, hop+": "); i >= 0 {
			if _, rest, ok := strings.Cut(reply[i+len(hop)+2:], "STARTTLS refused: "); ok && smtpReply(rest) {
				return rest, true
			}
		}
	}
	return reply, false
}

// smtpReply reports whether s starts as an SMTP reply ("454 …").
func smtpReply(s string) bool {
	return len(s) > 4 && (s[0] == '4' || s[0] == '5') && strings.Trim(s[1:3], "0123456789") == "" && s[3] == ' '
}

// dsnRecipient is r as a DSN of kind reports it (openingHostReply),
// with the Status its reply gives: the host's reply's own status where
// it is of the kind's class (a delay's 4.x.x), else the stored reply's.
func dsnRecipient(r Recipient, kind Notify) (Recipient, string) {
	status := statusOf(r.LastReply, kind)
	if kind == NotifyDelay && r.LastReply == throttleReply {
		// Not attempted, waiting for a slot of its destination's window:
		// umbra's own congestion (RFC 3463 X.4.5), not the host's
		// "not accepting messages" (4.3.2) that the note's code reads.
		return r, "4.4.5"
	}
	if kind == NotifyDelay && r.LastReply == "" {
		// No host has replied yet (a notice beside its running first
		// attempt: noticecommit.go): no answer from host (RFC 3463
		// X.4.1), what the text part says, not the bare 4.0.0.
		return r, "4.4.1"
	}
	if reply, ok := openingHostReply(r.LastReply, r.NextHop); ok {
		// A reply out of step is a 5xx the host gave to a command out
		// of order, no status of the recipient's: a delay keeps the
		// deferral's own (4.4.2).
		outOfStep := kind == NotifyDelay && AnsweredOutOfStep(r.LastReply, r.NextHop)
		r.LastReply = reply
		if s := statusOf(reply, kind); !outOfStep && (kind != NotifyDelay || s[0] == '4') {
			status = s
		}
	}
	return r, status
}

// hopInside reports whether r's next hop is a server of the
// organisation: its queue is one inside it, or Hop says so.
func (in Inside) hopInside(r Recipient) bool {
	for _, internal := range []string{"site:", "legacy:", "mailbox:", "shadow:", "redirect:"} {
		if strings.HasPrefix(r.Queue, internal) {
			return true
		}
	}
	return in.Hop(r)
}

// splitExpired undoes expiredReply.
func splitExpired(reply string) (code, last string, ok bool) {
	code, rest, ok := strings.Cut(reply, expiredText)
	if !ok || strings.Count(code, " ") != 1 { // "550 5.4.7": the code comes first

		return "", "", false
	}
	_, last, ok = strings.Cut(rest, lastReplyText)
	return code, last, ok
}

// expiredReply is a recipient's reply when its message expires: umbra's
// own code, then the reply it last had (splitExpired).
func expiredReply(code string, age time.Duration, last string) string {
	return code + expiredText + expiredAge(age) + lastReplyText + last
}

// expiredAge is age as an expiry's reply says it: to the minute, but a
// message_expiration under an hour to the second: 41 s is not "1m0s"
// (rt26 F8).
func expiredAge(age time.Duration) string {
	unit := time.Minute
	if age < time.Hour {
		unit = time.Second
	}
	return age.Round(unit).String()
}

const expiredText, lastReplyText = " message expired after ", "; last reply: "

// Inside is what a server knows of where the organisation ends, for the
// Remote-MTA of its DSNs (dsnReporter).
type Inside struct {
	// Domains are the organisation's accepted domains (authoritative
	// and internal_relay); "*.example.com" covers the names under it.
	Domains []string
	// Connectors are the send connectors whose smart hosts are servers
	// of the organisation.
	Connectors []string
	// SenderDomains are the domains whose senders are inside the
	// organisation for the DSNs they get (Sender): the authoritative and
	// internal_relay accepted domains, the organisation's own.
	SenderDomains []string
}

// Hop reports whether the host that answered for r is a server of the
// organisation: r's domain is one of its accepted domains (whoever takes
// mail for it is the organisation's: an edge's smart host for it is a
// hub), or r went through one of its send connectors (smart hosts that
// speak shadow redundancy with this server). Naming a host of the
// organisation as outside would leak it, so this errs the other way
// from the header rule (delivery: leavesOrganisation), which keeps the
// organisation id only where a hop is known to be inside.
func (in Inside) Hop(r Recipient) bool {
	if name, ok := strings.CutPrefix(r.Queue, "smarthost:"); ok {
		for _, c := range in.Connectors {
			if c == name {
				return true
			}
		}
	}
	at := strings.LastIndexByte(r.Addr, '@')
	return at >= 0 && domainIn(r.Addr[at+1:], in.Domains)
}
