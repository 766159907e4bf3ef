package queue

import (
	"strings"
	"time"
)

// umbra's own words on an attempt at a next hop (errtext44): delivery
// writes them (remote.go, org.go, transaction.go) with the constructors
// here, and the queue reads them back here — a DSN's and a delay
// notice's words (dsnown.go: hostStopped, hostUnreached), the
// operator's map of the organisation (NotReached, the web console) —
// so the text written and the text read cannot drift apart
// (hostwords_test.go builds each kind and parses it back). Each names
// the host it is about as delivery names a next hop ("name[ip]:port");
// the same words naming another host are a relay's reply about a host
// beyond it, quoted as that relay's.

const (
	// NoHostReachableReply: no host of a destination's MX hosts (or
	// smart hosts) could be connected to, recorded against the
	// destination (no host's name).
	NoHostReachableReply = unreachedCode + noHostReachable
	// NoServerAnsweredReply: no server of an organisation route's hops
	// could be connected to, recorded against the route's queue.
	NoServerAnsweredReply = unreachedCode + noServerAnswered

	unreachedCode    = "451 4.4.1 "
	noHostReachable  = "no host reachable"
	noServerAnswered = "no server of the route answered"
	connectTo        = "connect to "
	noHostOf         = "no host of "
	leftToTry        = " left to try"
	noServerInSite   = "no server in site "

	stoppedCode   = "451 4.4.2 "
	timedOutAfter = "timed out after "
	ioTimeout     = ": i/o timeout"
	openingFrom   = " from "

	offeredTLS = " offered verified TLS: "
)

// RequireTLSMark is in every deferral of a REQUIRETLS message for its
// TLS requirement ("451 4.7.5 REQUIRETLS: …", RequireTLSReply), which
// the expiry reads (results.go).
const RequireTLSMark = " REQUIRETLS: "

// ConnectFailedReply is the deferral of a next hop umbra could not
// connect to: "451 4.4.1 connect to HOP: dial tcp …: connection refused".
func ConnectFailedReply(hop string, err error) string {
	return unreachedCode + connectTo + hop + ": " + err.Error()
}

// NoHostLeftReply: every host of dest was tried (or none was found)
// before this attempt, none left for it.
func NoHostLeftReply(dest string) string {
	return unreachedCode + noHostOf + dest + leftToTry
}

// NoServerInSiteReply: a hop of an organisation route whose site has
// no server to connect to (recorded against the route's queue).
func NoServerInSiteReply(site string) string {
	return "451 4.4.4 " + noServerInSite + site
}

// OpeningFailedReply is the deferral of a host that accepted the
// connection and failed in its opening — stage is what it had not
// answered ("greeting", "reply to EHLO", "STARTTLS"), what its reply
// or the error: "451 4.4.2 greeting from HOP: read tcp …: i/o timeout".
func OpeningFailedReply(stage, hop, what string) string {
	return stoppedCode + stage + openingFrom + hop + ": " + what
}

// OutOfStepText is what delivery's deferral of a recipient whose next
// hop answered MAIL, RCPT or DATA out of step (503, 500, 502: the
// out-of-step rule, delivery/transaction.go) says between the hop and
// the command (OutOfStepReply).
const OutOfStepText = ": out of step at "

// OutOfStepReply is that deferral: "451 4.4.2 HOP: out of step at CMD:
// 503 5.5.1 …", what the host's reply.
func OutOfStepReply(hop, cmd, what string) string {
	return stoppedCode + hop + OutOfStepText + cmd + ": " + what
}

// EndOfMessage is the step OutOfStepReply names for an LMTP server's
// per-recipient 503 (500, 502) to the end of the message (delivery's
// finalResults): "out of step at the end of the message". Its DATA was
// accepted and the message sent — unlike MAIL, RCPT or DATA answered so,
// after which the host has nothing of that recipient's message
// (OutOfStepAfterBody).
const EndOfMessage = "the end of the message"

// OutOfStepAfterBody reports whether reply is OutOfStepReply of hop at
// EndOfMessage: the recipient's message went to the host, so it is
// never sent again in the same attempt, to that host or the next
// (delivery's nextHostFor); the retry schedule takes it.
func OutOfStepAfterBody(reply, hop string) bool {
	return hop != "" && strings.HasPrefix(reply, OutOfStepReply(hop, EndOfMessage, ""))
}

// AnsweredOutOfStep reports whether reply is umbra's OutOfStepReply of
// hop: the host answered MAIL, RCPT or DATA out of step. Its session is
// over (SessionBroke reads it so: delivery closes it), but the host was
// reached and answered — no failure of its destination (feedback).
func AnsweredOutOfStep(reply, hop string) bool {
	return hop != "" && strings.HasPrefix(reply, stoppedCode+hop+OutOfStepText)
}

// StrayText is what delivery's deferral of a recipient whose next hop
// answered with a reply where none of its kind belongs (a 3xx to MAIL
// or RCPT) says between the hop and the reply (StrayReply).
const StrayText = ": unexpected reply "

// StrayReply is that deferral: "451 4.4.2 HOP: unexpected reply
// \"354 …\"", quoted the host's reply. Like a reply out of step it ends
// the session (SessionBroke reads it so), and the host answered.
func StrayReply(hop, quoted string) string {
	return stoppedCode + hop + StrayText + quoted
}

// notSentText begins NotSentReply.
const notSentText = unreachedCode + "not sent to the hosts tried: "

// NotSentReply is the deferral of a destination whose hosts tried all
// answered and none took the message (refused the session for good,
// or passed over for its content: eightbit.go), the others cut by the
// attempt's limits (mx_address_limit, mx_session_limit): "451 4.4.1
// not sent to the hosts tried: REFUSAL (…)", recorded against the last
// host that refused, refusal its reply or umbra's words naming it.
// Hosts that answered: no failed contact of the destination (the
// result's Answered; HostsAnswered after a restart).
func NotSentReply(refusal string) string { return notSentText + refusal }

// notSent reports whether reply is NotSentReply (or its REQUIRETLS
// form): hosts that answered and did not take the message — neither a
// failed contact of the destination nor its success (feedback 0).
func notSent(reply string) bool {
	return strings.HasPrefix(requireTLSInner(reply), notSentText)
}

// HostClosed reports whether reply is a host's 421 (RFC 5321 §3.8: the
// service closes the transmission channel), whatever its enhanced
// status — 4.4.2, 4.7.0 ("too many connections from your IP"), 4.3.2
// ("shutting down") — or none: it did not answer the command, it ended
// its session (feedback −1).
func HostClosed(reply string) bool {
	rest, ok := strings.CutPrefix(reply, "421")
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '-')
}

// HostsAnswered reports whether reply is umbra's deferral of hop, or
// of hosts of its destination, that answered: a reply hop gave out of
// step or stray (OutOfStepReply, StrayReply: umbra ended the session),
// or hosts tried that did not take the message (NotSentReply) — no
// failed contact of the destination (feedback, destFailure). The
// REQUIRETLS form of one (RequireTLSReply, delivery's requireTLSDefer)
// is read by its inner reply, as NotReached reads it.
func HostsAnswered(reply, hop string) bool {
	if hop == "" {
		return false
	}
	reply = requireTLSInner(reply)
	return AnsweredOutOfStep(reply, hop) || IsStray(reply, hop) || strings.HasPrefix(reply, notSentText)
}

// IsStray reports whether reply is StrayReply of hop: the host answered
// a command with a reply where none of its kind belongs (a 3xx to MAIL
// or RCPT).
func IsStray(reply, hop string) bool {
	return hop != "" && strings.HasPrefix(reply, stoppedCode+hop+StrayText)
}

// IsOutOfStep reports whether reply is OutOfStepReply of hop.
func IsOutOfStep(reply, hop string) bool {
	return hop != "" && strings.HasPrefix(reply, "451 4.4.2 "+hop+OutOfStepText)
}

// loopCode begins umbra's deferral of a next hop that is this server
// itself (delivery/self.go): RFC 3463 X.4.6, routing loop detected.
const loopCode = "451 4.4.6 "

// SelfRelayReply is the deferral of a relay whose next hop, hop,
// answered its shadow session with this server's own transport
// database id: "451 4.4.6 routing loop: next hop HOP is this server
// itself (…)". The host answered — it is this server —: no failed
// contact of its destination, but every message to it waits, so the
// scheduler shows it as the destination's failure (feedback 0,
// messageFailure), never as a host that did not answer.
func SelfRelayReply(hop string) string {
	return loopCode + "routing loop: next hop " + hop + " is this server itself (it presents this server's transport database id)"
}

// LoopsBackReply is the deferral of mail whose smart hosts are all
// this server itself (an address it listens on): none was connected
// to. what names the domain and the host ("mail for DOM loops back to
// myself: next hop HOP is …"), conn the send connector. Read as
// SelfRelayReply is.
func LoopsBackReply(what, conn string) string {
	return loopCode + what + "; check the smart hosts of send connector " + conn
}

// RoutingLoop reports whether reply, recorded against nextHop, is one
// of umbra's two deferrals of a next hop that is this server itself
// (SelfRelayReply, LoopsBackReply, both naming nextHop): the
// configuration's loop, neither the host's own reply nor a host that
// did not answer. The REQUIRETLS form of either (RequireTLSReply: a
// REQUIRETLS message whose recipient waited before on its TLS
// requirement, delivery's requireTLSCarry) is read by its inner reply:
// the same loop, which was counted a failed contact.
func RoutingLoop(reply, nextHop string) bool {
	rest, ok := strings.CutPrefix(requireTLSInner(reply), loopCode)
	if !ok || nextHop == "" || !strings.Contains(rest, nextHop) {
		return false
	}
	return strings.HasPrefix(rest, "routing loop: next hop ") || strings.HasPrefix(rest, "mail for ") && strings.Contains(rest, " loops back to myself: ")
}

// AuthFailedReply is the deferral of a host that refused umbra's
// login (a send connector's auth): "451 4.7.0 authentication to HOP
// failed: 535 …", what the host's reply.
func AuthFailedReply(hop, what string) string {
	return "451 4.7.0 authentication to " + hop + " failed: " + what
}

// SessionFailedReply is the deferral of a host whose session broke off
// after its opening — no reply to a command, the connection lost, a
// reply out of step: "451 4.4.2 HOP: reply to MAIL: read tcp …: i/o
// timeout", "451 4.4.2 HOP: " + FinalReplyTimedOut(wait).
func SessionFailedReply(hop, what string) string {
	return stoppedCode + hop + ": " + what
}

// SessionBroke reports whether reply is umbra's SessionFailedReply of
// hop: the session with it is over (a lost connection, a reply that
// never came, one out of step), where a host's own "451 4.4.2 …" is
// its answer to a command, in a session that goes on.
func SessionBroke(reply, hop string) bool {
	return hop != "" && strings.HasPrefix(reply, stoppedCode+hop+": ")
}

// FinalReplyTimedOut is the words of no reply to the end of the
// message within wait (the data timeout): smtp.FinalReplyError's.
func FinalReplyTimedOut(wait time.Duration) string {
	return timedOutAfter + wait.String() + unansweredTimeout
}

// RequireTLSReply is the one REQUIRETLS form of a deferral of a
// REQUIRETLS message no host took over verified TLS (delivery's
// requireTLSDefer): "451 4.7.5 REQUIRETLS: no host of DEST offered
// verified TLS: <inner>", status the inner reply's own ("451 4.4.1").
func RequireTLSReply(status, none, inner string) string {
	return status + RequireTLSMark + none + offeredTLS + inner
}

// requireTLSInner is the reply a RequireTLSReply wraps, else reply.
func requireTLSInner(reply string) string {
	if len(reply) < 10 || !strings.HasPrefix(reply[9:], RequireTLSMark) {
		return reply
	}
	if _, inner, ok := strings.Cut(reply[9+len(RequireTLSMark):], offeredTLS); ok {
		return inner
	}
	return reply
}

// namesNoHost reports whether nextHop, as a recipient in queue records
// it, is no host umbra connected to: a destination or a route's queue,
// never "name[ip]:port", which every reply a host gave is recorded
// against, nor a server of the organisation named alone in its route's
// queue (orgServerHop: relayed to through its shadow session), whose
// own "451 4.4.1 no host reachable" about the hosts beyond it is its
// reply (deliv48).
func namesNoHost(nextHop, queue string) bool {
	return !strings.Contains(nextHop, "[") && !IsLMTPHop(nextHop) && !orgServerHop(nextHop, queue)
}

// NotReached reports whether a deferral's reply, recorded against
// nextHop in queue (the recipient's), says umbra reached no host for it: its connection to nextHop
// failed (ConnectFailedReply naming it; the LMTP server's
// LMTPUnreachable), no host of the destination could be connected to or
// found (umbra's 4.4.x words recorded against no host: the destination
// or the route's queue), the destination is dead (the scheduler's
// note), or the REQUIRETLS form of one of these. A reply the host gave
// — a 4.4.1 or 4.4.4 of its own, in any words, a relay's about a host
// beyond it — or umbra's words on a session with it (a TLS policy's
// refusal after connecting, a session that broke) was a contact. The
// one reading of "not reached": the DSN's (hostUnreached) and the web
// console's map (the server's last contact).
func NotReached(reply, nextHop, queue string) bool {
	if isDeadReply(reply) {
		return true
	}
	reply = requireTLSInner(reply)
	if hostUnreachedReply(reply, nextHop, queue) {
		return true
	}
	if IsLMTPHop(nextHop) {
		return strings.HasPrefix(reply, LMTPUnreachable)
	}
	if !namesNoHost(nextHop, queue) {
		return false
	}
	_, rest, _ := strings.Cut(reply, " ")
	status, _, _ := strings.Cut(rest, " ")
	switch status {
	case "4.4.1", "4.4.3", "4.4.4":
		return true
	}
	return false
}

// HostsOwnReply reports whether a deferral's reply, recorded against
// nextHop, is that host's own answer: it is recorded against a host
// ("name[ip]:port": a destination or a queue is none), is no 421 (the
// host closing the session), and does not name the host as umbra's
// words on an attempt at it always do ("connect to HOST: …", "HOST:
// reply to MAIL: …", "greeting from HOST: …", a TLS policy's "HOST: …",
// the loop's "next hop HOST is this server itself") — so a relay's
// "451 4.4.1 …" or "451 4.4.4 …", about a host beyond it, is its
// answer. The scheduler's signal reads it so (feedback).
func HostsOwnReply(reply, nextHop string) bool {
	return strings.Contains(nextHop, "[") && !strings.HasPrefix(reply, "421") && !strings.Contains(reply, nextHop)
}

// StoppedAnswering reports whether reply is umbra's deferral of
// nextHop, which took the connection and then stopped answering
// (hostStopped): no greeting, no reply to a command within the
// command timeout, none to the end of the message within the data
// timeout.
func StoppedAnswering(reply, nextHop string) bool {
	return hostStoppedAnswering(reply, nextHop)
}

// hostStopped parses such a deferral: the hop as it names it, and which
// reply did not come; ok false for any other reply. umbra's words name
// the recipient's next hop, nextHop: the same words naming another host
// are a relay's reply about a host beyond it (as hostUnreached).
func hostStopped(reply, nextHop string) (hop, missing string, ok bool) {
	hop, missing, ok = hostStoppedWords(reply)
	if !ok || hop != nextHop {
		return "", "", false
	}
	return hop, missing, true
}

// hostStoppedWords reads SessionFailedReply and OpeningFailedReply when
// what they say is a wait that ran out.
func hostStoppedWords(reply string) (hop, missing string, ok bool) {
	rest, ok := strings.CutPrefix(reply, stoppedCode)
	if !ok {
		return "", "", false
	}
	if h, after, found := strings.Cut(rest, ": "+timedOutAfter); found {
		wait, found := strings.CutSuffix(after, unansweredTimeout)
		if !found || strings.Contains(wait, " ") {
			return "", "", false
		}
		return h, "no reply to the end of the message within " + wait, true
	}
	if !strings.HasSuffix(rest, ioTimeout) {
		return "", "", false
	}
	head, after, _ := strings.Cut(rest, ": ")
	if stage, h, found := strings.Cut(head, openingFrom); found {
		// An opening step: "greeting from HOP", "reply to EHLO from HOP".
		if stage == "greeting" {
			return h, "no greeting", true
		}
		return h, "no " + stage, true
	}
	if cmd, found := strings.CutPrefix(after, "reply to "); found {
		cmd, _, _ = strings.Cut(cmd, ": ")
		return head, "no reply to " + cmd, true
	}
	return head, "no reply", true
}

// hostStoppedAnswering reports whether reply is umbra's deferral of a
// host that stopped answering (hostStopped).
func hostStoppedAnswering(reply, nextHop string) bool {
	_, _, ok := hostStopped(reply, nextHop)
	return ok
}

// hostUnreached parses a deferral of hosts not reached (dsnown.go): the
// hop as it names it ("" for none of the route's) and why it was not
// reached; ok false for any other reply. umbra's "connect to HOP: …"
// (ConnectFailedReply) names the recipient's next hop, nextHop (the
// host it could not reach is the one it records); a reply in those
// words naming another host is that host's own, a relay that answered
// and refused about a host beyond it (rropsrt43): its reply, quoted as
// one. Likewise umbra's words on no host of a destination are recorded
// against the destination or the route's queue (namesNoHost), never a
// host: recorded against one, they are its reply.
func hostUnreached(reply, nextHop, queue string) (hop, why string, ok bool) {
	rest, ok := strings.CutPrefix(reply, unreachedCode)
	if !ok {
		return "", "", false
	}
	if after, found := strings.CutPrefix(rest, connectTo); found {
		h, err, found := strings.Cut(after, ": ")
		if !found || h != nextHop {
			return "", "", false
		}
		return h, connectCause(err), true
	}
	if !namesNoHost(nextHop, queue) {
		return "", "", false
	}
	switch {
	case rest == noHostReachable, rest == noServerAnswered,
		strings.HasPrefix(rest, noHostOf) && strings.HasSuffix(rest, leftToTry):
		return "", "", true
	}
	return "", "", false
}

func hostUnreachedReply(reply, nextHop, queue string) bool {
	_, _, ok := hostUnreached(reply, nextHop, queue)
	return ok
}

// connectCause is a failed connection's cause in words.
func connectCause(err string) string {
	switch {
	case strings.Contains(err, "connection refused"):
		return "connection refused"
	case strings.Contains(err, "i/o timeout"), strings.Contains(err, "timed out"):
		return "connection timed out"
	case strings.Contains(err, "no route to host"):
		return "no route to host"
	case strings.Contains(err, "network is unreachable"):
		return "network unreachable"
	case strings.Contains(err, "host is down"):
		return "host down"
	case strings.Contains(err, "connection reset"):
		return "connection reset"
	case strings.Contains(err, "no such host"):
		return "its name not found"
	}
	return "connection failed"
}
