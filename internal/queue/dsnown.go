package queue

import (
	"strings"

	"umbra/internal/mailaddr"
)

// What a DSN says of a recipient's reply (shownReply). A reply is one of
// three things: a remote host's own answer, umbra's own diagnostic
// (delivery's words: "451 4.4.2 hub-b[10.0.0.2]:25: connection lost …",
// a dial or read error with this server's own address, a spool file or
// an LMTP socket path, a queue or connector name), or the answer of a
// server of the organisation (a hub, the mailbox store), which is
// umbra's or the organisation's own words too. A DSN to a sender outside
// the organisation quotes only the first whole; the others it describes
// by their reply code, enhanced status code and the status's reason
// (StatusReason), as Remote-MTA names no host inside (dsnReporter). The
// full text stays in the tracking log and the daemon's log, and a sender
// inside (Inside.Sender) reads it whole in the DSN too.

// Sender reports whether addr is a sender of the organisation, who reads
// umbra's own diagnostics whole: its domain is one of SenderDomains (the
// authoritative and internal_relay accepted domains: the organisation's
// own, whose hosts Hop counts inside too; an edge has only internal_relay
// ones). Anything else — an external_relay domain, any other, or no
// domain at all — is outside: this errs toward saying less.
func (in Inside) Sender(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	return domainIn(addr[at+1:], in.SenderDomains)
}

// domainIn reports whether dom is one of domains ("*.example.com"
// covers the names under it), compared as mailaddr keys them (ASCII
// case, an internationalised label as its A-label), without trailing
// dot.
func domainIn(dom string, domains []string) bool {
	dom = mailaddr.NameKey(dom)
	for _, d := range domains {
		d = mailaddr.NameKey(d)
		if d == dom || strings.HasPrefix(d, "*.") && strings.HasSuffix(dom, d[1:]) {
			return true
		}
	}
	return false
}

// shownReply is r's reply as a DSN of kind about m quotes it: never the
// organisation id (sendable); to a sender outside the organisation, only
// a reply of a remote host outside it whole (dsnReporter names it), any
// other described (describedReply).
func shownReply(m *Message, r Recipient, kind Notify, in Inside) string {
	reply := sendable(r.LastReply, m.OrgID)
	if reply == "" || in.Sender(m.From) {
		return reply
	}
	if mta, _ := dsnReporter(r, in); mta != "" || plainOwn(reply) {
		return reply
	}
	described := describedReply(reply, kind)
	// umbra's words about a host outside (it did not answer, the
	// connection broke) name it still: its name is no secret, the
	// addresses and errors around it may be (this server's own address).
	if host := remoteMTA(r.NextHop); host != "" && strings.Contains(r.NextHop, "[") && !in.hopInside(r) && !ownNote(r.LastReply) {
		described += " (" + host + ")"
	}
	return described
}

// plainOwnTexts start umbra's own diagnostics that name nothing but
// this server (the DSN's Reporting-MTA): the operator's removal and the
// quarantine's end (admin.go, quarantine.go), a next hop's want of
// SMTPUTF8 (utf8reply.go). They are shown whole.
var plainOwnTexts = []string{
	"message removed by the administrator of ",
	"message held in quarantine and deleted by the administrator of ",
	"the message was held at ",
	rcptNeedsSMTPUTF8Text, // utf8reply.go
	senderNeedsSMTPUTF8Text,
	headersNeedSMTPUTF8Text,
}

// plainOwn reports whether reply is "NNN X.Y.Z " and one of
// plainOwnTexts.
func plainOwn(reply string) bool {
	f := strings.SplitN(reply, " ", 3)
	if len(f) < 3 || len(f[0]) != 3 || !isStatusCode(f[1]) {
		return false
	}
	for _, p := range plainOwnTexts {
		if strings.HasPrefix(f[2], p) {
			return true
		}
	}
	return false
}

// describedReply is reply with its text replaced by the reason of its
// status: "451 4.4.2 connection with the next hop broken". An expired
// recipient's reply keeps umbra's own words on the expiry, the last
// reply described. The reply code and the enhanced status code are the
// host's, as it gave them, whatever their classes ("550 4.7.1" stays
// so: a DSN quotes the host, RFC 3464 §2.3.6; the Status field is the
// DSN's own); a reply without an enhanced code gets the one the DSN's
// Status field gives it when that is of its code's class, else its
// class's x.0.0. Only a reply without a code gets one, of its status's
// class.
func describedReply(reply string, kind Notify) string {
	if code, last, ok := splitExpired(reply); ok {
		age, _, _ := strings.Cut(strings.TrimPrefix(reply, code+expiredText), lastReplyText)
		return code + expiredText + age + lastReplyText + describedReply(last, NotifyDelay)
	}
	if heldBy(reply) != "" {
		return heldDescribed // the queue's name may be the organisation's own
	}
	f := strings.Fields(reply)
	code := ""
	if len(f) > 0 && len(f[0]) == 3 && strings.Trim(f[0], "0123456789") == "" && strings.IndexByte("245", f[0][0]) >= 0 {
		code = f[0] // a final reply's (a 3yz is none: no status class is 3)
	}
	status := statusOf(reply, kind)
	switch {
	case code != "" && len(f) > 1 && isStatusCode(f[1]):
		status = f[1] // the host's own, a success's 2.x.y too
	case code != "" && code[0] != status[0]:
		status = code[:1] + ".0.0"
	case code == "":
		code = map[byte]string{'2': "250", '4': "451", '5': "550"}[status[0]]
	}
	return code + " " + status + " " + StatusReason(status)
}

// heldDescribed is a hold's reply (HeldReply) as a DSN to a sender
// outside the organisation describes it: the operator of this server
// (the DSN's Reporting-MTA) holds the message, no host was asked.
const heldDescribed = "452 4.3.2 held by the administrator of this server (its delivery queue is suspended); no host was asked"

// StatusReason is the reason RFC 3463 (and RFC 5248's registry) gives a
// status ("5.2.2"), in words a sender reads: the detail first, else its
// subject's. The session gives it for a callout's refusal too.
func StatusReason(status string) string {
	class, detail, _ := strings.Cut(status, ".")
	if class == "2" {
		return "completed"
	}
	if r, ok := statusReasons[detail]; ok {
		return r
	}
	subject, _, _ := strings.Cut(detail, ".")
	if r, ok := statusReasons[subject+".0"]; ok && subject != "0" {
		return r
	}
	if class == "4" {
		// 4.0.0 (or a detail of no subject known) says only that the
		// failure is temporary: "delivery failed" read as final, in a
		// delay notice and in a callout's 450 4.0.0 alike.
		return "temporary failure"
	}
	return "delivery failed"
}

var statusReasons = map[string]string{
	"1.0":  "recipient address problem",
	"1.1":  "the recipient's mailbox does not exist",
	"1.2":  "the recipient's domain does not exist or takes no mail",
	"1.3":  "bad recipient address syntax",
	"1.4":  "the recipient's address is ambiguous",
	"1.6":  "the recipient's mailbox has moved",
	"1.7":  "bad sender address",
	"1.8":  "bad sender domain",
	"1.10": "the recipient's domain takes no mail (null MX)",
	"2.0":  "mailbox problem",
	"2.1":  "the recipient's mailbox is disabled",
	"2.2":  "the recipient's mailbox is full",
	"2.3":  "message too large for the recipient's mailbox",
	"2.4":  "mailing list expansion problem",
	"3.0":  "mail system problem",
	"3.1":  "mail system full",
	"3.2":  "mail system not accepting messages now",
	"3.3":  "the mail system cannot handle a feature of the message",
	"3.4":  "message too big for the route",
	"3.5":  "mail system configuration problem",
	"4.0":  "network or routing problem",
	"4.1":  "no answer from the next hop",
	"4.2":  "connection with the next hop broken",
	"4.3":  "directory server failure",
	"4.4":  "no route to the destination",
	"4.5":  "mail system congestion",
	"4.6":  "routing loop detected",
	"4.7":  "delivery time expired",
	"5.0":  "mail protocol problem",
	"5.3":  "too many recipients",
	"5.4":  "invalid command arguments",
	"6.0":  "message content problem",
	"6.3":  "conversion required but not supported",
	"6.5":  "conversion failed",
	"6.7":  "non-ASCII address or header fields not permitted (SMTPUTF8 needed)",
	"7.0":  "security or policy problem",
	"7.1":  "delivery not authorized, message refused",
	"7.10": "encryption needed",
	"7.30": "REQUIRETLS support required",
}

// notTried: reply, or the last reply an expiry's carries, is umbra's
// note about a recipient its scheduling did not try — waiting for a
// delivery slot, a dead destination's cool-down with no host's reply
// to carry, the stop (ownNote). A DSN says in its text part why it is
// not delivered (notAttempted). A suspended queue's hold is not among
// them: that is the administrator's word on the message, reported as it
// is (HeldReply, heldDescribed). Neither has a Diagnostic-Code, which
// quotes only a remote server's reply (remoteDiagnostic).
func notTried(reply string) bool {
	if _, last, ok := splitExpired(reply); ok {
		reply = last
	}
	return umbraNote(reply) && heldBy(reply) == ""
}

// notAttempted is what a DSN's text part says of a recipient whose last
// reply is umbra's own note, no host's (notTried): it is reported as not
// delivered with the reason in words — waiting
// for a delivery slot of its destination, the destination's cool-down,
// the stop — and, for an expiry, umbra's expiry code and age before it
// (rt30d F3: "Status: 4.3.2" and "Diagnostic-Code: X-Umbra; 452 4.3.2
// destination busy: waiting for a delivery slot" read as a host's
// refusal). The destination is named as the recipient's queue to
// a sender inside the organisation, and only as the recipient's own
// domain (an mx: queue) to one outside (shownReply's rule: no name of
// the inside leaves it).
//
// It says "not delivered", never "not attempted": an attempt the stop
// cut is not counted (Attempts) and its note is replaced by the next
// one (a throttle's), so whether the recipient was ever tried is not
// known here — and "not attempted" said of one that was would be false.
func notAttempted(m *Message, r Recipient, kind Notify, in Inside) string {
	reply, lead := r.LastReply, "not delivered yet: "
	expired := false
	if code, last, ok := splitExpired(reply); ok {
		age, _, _ := strings.Cut(strings.TrimPrefix(reply, code+expiredText), lastReplyText)
		reply, lead, expired = last, code+expiredText+age+"; not delivered: ", true
	} else if kind == NotifyFailure {
		lead = "not delivered: "
	}
	inside := in.Sender(m.From)
	dest := ""
	switch q := r.Queue; {
	case q == "":
	case inside:
		dest = " of queue " + q
	case strings.HasPrefix(q, "mx:") && !in.hopInside(r):
		dest = " of " + strings.TrimPrefix(q, "mx:")
	}
	switch {
	case isThrottleReply(reply):
		return lead + "waiting for a delivery slot" + dest + " (its connections are all in use)"
	case isDeadReply(reply):
		return lead + "its destination" + dest + " failed to answer; no connection until its cool-down ends"
	case isStopReply(reply):
		return lead + "its last attempt was interrupted by a shutdown of this server"
	case isDataStallNote(reply):
		host := "its next hop"
		if inside || (strings.HasPrefix(r.Queue, "mx:") && !in.hopInside(r)) {
			host = r.NextHop
		}
		return lead + dataStallWords(reply, host)
	case hostStoppedAnswering(reply, r.NextHop):
		return lead + stoppedWords(reply, r, inside, in)
	case hostUnreachedReply(reply, r.NextHop, r.Queue):
		return lead + unreachedWords(reply, r, dest, inside, in)
	case reply == "" && expired:
		return lead + "no host" + dest + " had replied by the expiry (it waited for a connection, or its first attempt had not ended)"
	case reply == "":
		// A delay notice made while its attempt runs (noticecommit.go):
		// its job is under way; no host has said anything yet. (One
		// whose job waits in the attempt for a free connection of its
		// destination is reported as waiting for a slot: sched33.)
		which := "an attempt"
		if m.Attempts == 0 {
			which = "its first attempt"
		}
		return lead + "no host" + dest + " has replied yet (" + which + " is under way)"
	case expiredUnsent(reply):
		return lead + "the expiry ended its attempt" + strings.Replace(dest, " of ", " to ", 1) + " before the message was sent"
	case reply == noResultReply:
		return lead + "its last attempt ended with no result from delivery"
	}
	return lead + reply
}

// noHostReply: reply is one a DSN of kind quotes as no host's (and so
// in words, notAttempted, with no Diagnostic-Code): umbra's note about
// a recipient it did not try (notTried), no reply at all (a delay
// notice made while its first attempt runs: rt31d F1), or an expiry
// whose last reply is none or umbra's own words about its attempt —
// the expiry's cut before anything was sent, a delivery that gave no
// result (rt31d F2: "last reply: " empty, to an outside sender "last
// reply: 451 4.0.0 temporary failure", a reply no host gave).
func noHostReply(reply, nextHop, queue string, kind Notify) bool {
	if kind == NotifySuccess {
		return false
	}
	if notTried(reply) {
		return true
	}
	if _, last, ok := splitExpired(reply); ok {
		reply = last
	}
	return reply == "" || expiredUnsent(reply) || reply == noResultReply || hostStoppedAnswering(reply, nextHop) || hostUnreachedReply(reply, nextHop, queue)
}

// Timeouts (rt41 F2). A recipient deferred because its host stopped
// answering in the middle of the session — no reply to a command
// (MAIL, RCPT, DATA, an opening step) within command_timeout, none to
// the end of the message within data_timeout — holds umbra's own
// words on that wait: "451 4.4.2 HOP: reply to MAIL: read tcp …: i/o
// timeout", "451 4.4.2 greeting from HOP: … i/o timeout", "451 4.4.2
// HOP: timed out after 10m0s waiting for the reply to the end of the
// message". No host said anything: a DSN says in words what happened
// (notAttempted: "HOST stopped answering: no reply to MAIL"), with no
// Diagnostic-Code, and an expiry quotes no "last reply" — not the
// status's reason, "connection with the next hop broken", which read
// as if the host had dropped the connection. The Status stays 4.4.2
// (RFC 3463 X.4.2: a connection established that could not complete
// the transaction, time-outs named). The log and the tracking defer
// line keep the whole text.

// Hosts not reached (rt43-delivery F2). A recipient deferred because no
// host of its attempt could be reached holds umbra's own words on the
// attempt — "451 4.4.1 connect to HOP: dial tcp …: connect: connection
// refused", "451 4.4.1 no host reachable" — no host's reply: a DSN says
// in words what happened ("HOST could not be reached (connection
// refused)"), with no Diagnostic-Code, and an expiry quotes no "last
// reply" — not the status's reason, "no answer from the next hop",
// which an outside sender read as a reply (and a refusal is no want of
// an answer). The Status stays 4.4.1; the log and the tracking defer line
// keep the whole text.

// unreachedWords is what a DSN says of r, whose reply is no host reached:
// the host named as stoppedWords names it, else no host of the
// recipient's destination (dest, as notAttempted names it).
func unreachedWords(reply string, r Recipient, dest string, inside bool, in Inside) string {
	hop, why, _ := hostUnreached(reply, r.NextHop, r.Queue)
	if hop == "" {
		return "no host" + dest + " could be reached"
	}
	if !inside && in.hopInside(r) {
		// A host of the organisation: an outside sender learns that
		// the message waits, not why one of the organisation's
		// servers did not take the connection (dsn12).
		return "its next hop could not be reached"
	}
	host := "its next hop"
	switch {
	case inside:
		host = hop
	case !in.hopInside(r) && strings.Contains(r.NextHop, "["):
		if h := remoteMTA(r.NextHop); h != "" {
			host = h
		}
	}
	return host + " could not be reached (" + why + ")"
}

// stoppedWords is what a DSN says of r, whose reply is a host that
// stopped answering: the host named as the reply names it to a sender
// inside the organisation; to one outside only a host outside it, by
// the name Remote-MTA gives (remoteMTA), else "its next hop".
func stoppedWords(reply string, r Recipient, inside bool, in Inside) string {
	hop, missing, _ := hostStopped(reply, r.NextHop)
	host := "its next hop"
	switch {
	case inside && hop != "":
		host = hop
	case !in.hopInside(r) && strings.Contains(r.NextHop, "["):
		if h := remoteMTA(r.NextHop); h != "" {
			host = h
		}
	}
	return host + " stopped answering: " + missing
}

// ShownReply is what the operator reads of recipient i's last reply
// (message show, the tracking "fail" event): the reply as stored, but
// an expiry's failure whose last reply no remote server gave (none, or
// umbra's own words on its attempt: noHostReply) says why in words, as
// the DSN does (notAttempted), not "last reply: " quoting umbra's text
// as a server's.
func ShownReply(m *Message, i int) string {
	r := m.Rcpts[i]
	if _, _, ok := splitExpired(r.LastReply); ok && noHostReply(r.LastReply, r.NextHop, r.Queue, NotifyFailure) {
		return notAttempted(m, r, NotifyFailure, Inside{})
	}
	if rest, ok := strings.CutPrefix(r.LastReply, partialDoneReplyOld); ok && r.Status == Relayed {
		// An older release's words, with a 250 no next hop gave: today's.
		if primary, _, ok := strings.Cut(rest, " (its partial discard)"); ok {
			return partialDoneText(primary) + "; not sent from this server"
		}
		return strings.TrimPrefix(r.LastReply, "250 2.0.0 ")
	}
	return heldShown(r, r.LastReply) // a hold, then the next hop's reply kept beside it (heldover.go)
}
