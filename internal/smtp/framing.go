package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// The verb layer is the one framing authority of a receive session (see
// doc.go): it alone decides where a command line, a DATA body and a BDAT
// chunk end. go-smtp reads only what the layer hands it: one complete,
// CRLF-terminated command line at a time, and ".\r\n" for a body the layer
// has read already.

// Replies of the framing layer.
const (
	replyBareNewlineCmd   = "500 5.5.2 Command lines must end with CRLF and contain no bare CR or LF"
	replyNULCmd           = "500 5.5.2 Syntax error: a NUL in a command line"
	replyLineTooLong      = "421 4.7.0 Line too long, closing connection"
	replyAuthNotAvailable = "502 5.5.1 AUTH not available"
	replyIdleTimeout      = "421 4.4.2 Idle timeout, closing connection"
	// replyLineTimeout: idle_timeout is the deadline of a whole command
	// line, from the moment the layer waits for it to its CRLF; a client
	// that sent part of one (a byte every few seconds) was not idle.
	replyLineTimeout     = "421 4.4.2 Command line not completed within idle_timeout, closing connection"
	replyBDATSyntax      = "501 5.5.4 Syntax: BDAT <size> [LAST], size at most 4294967295"
	replyBDATNoTxn       = "503 5.5.1 BDAT needs MAIL and RCPT first; chunk discarded"
	replyBDATNoTxnSyntax = "503 5.5.1 BDAT needs MAIL and RCPT first"
	// ESMTP parameters need an EHLO (RFC 5321 §4.1.1.11, §4.3.2: 555).
	replyMailParamsNeedEHLO = "555 5.5.4 MAIL FROM parameters need EHLO, not HELO"
	replyRcptParamsNeedEHLO = "555 5.5.4 RCPT TO parameters need EHLO, not HELO"
	// Raw non-ASCII in RCPT parameters needs MAIL ... SMTPUTF8.
	replyRcptParamsNeedUTF8 = "501 5.5.4 Malformed RCPT TO parameter: non-ASCII text needs SMTPUTF8 (write an ORCPT address as xtext)"
	replyBDATTooBig         = "552 5.3.4 Message size exceeds fixed maximum message size" // replyDataTooBig's, as a line
	replyInTransfer         = "503 5.5.1 Not allowed during a BDAT transfer; transaction discarded"
	replyGreetAgain         = "503 5.5.1 Send EHLO first (state discarded by STARTTLS)"
	replyNoGreeting         = "503 5.5.1 Send EHLO first"
	replyTLSAfterAuth       = "503 5.5.1 STARTTLS is not allowed after AUTH"
	replyUnrecognized       = "500 5.5.2 Syntax error, command unrecognized"
	// replyVRFY: umbra verifies no address by VRFY. go-smtp's text
	// ("but will accept message") promised what RCPT may refuse (an
	// unknown recipient gets 550 5.1.1 there).
	replyVRFY        = "252 2.5.0 Cannot VRFY user; RCPT tells whether the address is accepted"
	replyVRFYSyntax  = "501 5.5.4 Syntax: VRFY <user name or mailbox>"
	replyUnknownVerb = "500 5.5.1 Command unrecognized"
	replyJunkLimit   = "421 4.7.0 Too many commands without mail delivered, closing connection"
	replyMailTooBig  = "552 5.3.4 Declared message size exceeds fixed maximum message size"
	replyTxnTooLong  = "421 4.4.2 Mail transaction took too long, closing connection"
	replyDataRate    = "421 4.4.2 Data rate too low, closing connection"
	replyDataTime    = "421 4.4.2 Message transfer took too long, closing connection"
	replyErrorLimit  = "421 4.7.0 Too many errors, closing connection"
	replyRcptLimit   = "421 4.5.3 Too many recipients, closing connection"
)

// Replies of the session to bodies and transactions.
var (
	replyBareCR       = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Message contains a bare CR; lines must end with CRLF"}
	replyNoRecipients = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
)

// bareNewline returns '\r' or '\n' for the first CR not followed by LF
// or LF not preceded by CR in b, 0 when every line ends in CRLF. It goes
// line by line with IndexByte (vectorised): bodies are large.
func bareNewline(b []byte) byte {
	if onlyCRLF(b) { // the common case, in one search per line (bodyscan.go)
		return 0
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i]
		}
		if j := bytes.IndexByte(line, '\r'); j >= 0 && j != i-1 {
			return '\r'
		}
		if i < 0 {
			return 0
		}
		if i == 0 || b[i-1] != '\r' {
			return '\n'
		}
		b = b[i+1:]
	}
	return 0
}

// normalizeNewlines appends b to dst with every bare CR and bare LF made
// a CRLF (bare_newlines: normalize). dotted: b is a DATA body (dot
// unstuffed at CRLF line starts), read as if each bare newline had been a
// CRLF, so a dot starting a line a bare newline began is transparency
// too and dropped (RFC 5321 §4.5.2), as at a CRLF line start; only CRLF
// "." CRLF ended the body. A BDAT body has no transparency (dotted false).
func normalizeNewlines(dst, b []byte, dotted bool) []byte {
	for i := 0; i < len(b); {
		j := bytes.IndexAny(b[i:], "\r\n")
		if j < 0 {
			return append(dst, b[i:]...)
		}
		dst, i = append(dst, b[i:i+j]...), i+j
		bare := !(b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n')
		if !bare {
			i++
		}
		dst, i = append(dst, '\r', '\n'), i+1
		if bare && dotted && i < len(b) && b[i] == '.' {
			i++
		}
	}
	return dst
}

// Body refusals the layer hands the session through takeBody.
var replyDataLineTooLong = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: "Message contains a line longer than the line length limit"}

// Trace kinds (tests only): what the layer framed, in order.
const (
	traceLine    = 'L' // a command (or SASL response) line, CRLF-terminated
	traceRefused = 'X' // a line refused for a bare CR or LF
	traceBody    = 'D' // a DATA body as received, end marker included
	traceChunk   = 'B' // a BDAT chunk (also one that was discarded)
	traceGoSMTP  = 'G' // bytes handed to go-smtp
	trace354     = 'S' // go-smtp answered the last line with 354
	trace334     = 'A' // go-smtp answered the last line with 334
	traceEOF     = 'E' // the client's stream ended (or broke)
	traceClosed  = 'C' // the session was closed by the server
	traceEnded   = 'Z' // go-smtp was told the stream ended: it handles nothing more
)

func (v *verbConn) traceUnit(kind byte, b []byte) {
	if v.trace != nil {
		v.trace(kind, b)
	}
}

// fillCommand frames the next command line and either answers it here
// or hands it to go-smtp. It returns with v.pending empty when it
// answered the line itself (Read then frames the next one).
func (v *verbConn) fillCommand() error {
	v.followLimits() // a reload's limits from this command on (reloadlimits.go)
	// The error limit is judged once the next command is read, not
	// before: a client at the limit that says QUIT gets its 221 (QUIT
	// is never an error nor a junk command), any other command the 421.
	if v.surplus > rcptOvershootLimit {
		v.limitHit(RejectRecipients, replyRcptLimit)
		return v.hangUp(replyRcptLimit)
	}
	if v.softErrors > 0 && v.errors > v.softErrors && v.errorDelay > 0 && v.errors != v.delayed {
		// A client past the soft limit waits before each next command
		// is read (once per error), so guessing and junk get slow. The
		// replies held for its pipelined commands go out first: it
		// waits with every reply so far in hand.
		v.delayed = v.errors
		v.flushHeld()
		v.errorWait()
	}
	if v.bdat {
		v.bodyDeadline() // between chunks the transfer's rate still runs
	} else {
		v.refreshDeadline()
	}
	line, tooLong, err := v.readLine()
	var c commandLine
	if !v.sasl && (tooLong || err == nil) {
		c = readCommandLine(line)
		v.due = countedCommand(c.cmd) // cmdcount.go; a SASL response answers AUTH
	}
	if tooLong {
		// The rest of the line cannot be told from a command: the
		// session ends, with a 421 as RFC 5321 §3.8 asks of a server
		// that closes.
		v.limitHit(RejectLineLength, replyLineTooLong)
		return v.hangUp(replyLineTooLong)
	}
	if err != nil {
		// A line without its CRLF is never a command: not at a
		// timeout, not at the end of the stream.
		v.partialLine = len(line) > 0 && !v.sasl
		return v.readError(err)
	}
	if !v.sasl {
		// The limits in force when the command came, not when the
		// layer began to wait for it (a reload meanwhile): a count
		// already past a lowered max_errors ends the session here.
		v.followLimits()
		if v.maxErrors > 0 && v.errors >= v.maxErrors && !c.quits() {
			v.limitHit(RejectErrors, replyErrorLimit)
			return v.hangUp(replyErrorLimit)
		}
	}
	if v.bdat {
		// A command between chunks: the client is not idle, whatever
		// the transfer's rate (timeoutReply names the limit that cuts it).
		v.lastRead = time.Now()
	}
	if len(v.acks) > 0 {
		v.peerSpoke(len(line)) // the peer has the discards of the last reply (SR-15)
	}
	if !crlfOnly(line) {
		v.traceUnit(traceRefused, line)
		if v.sasl && v.againSASL != nil {
			v.sasl, v.againSASL = false, nil
			v.reply(replyBareNewlineCmd)
			return nil
		}
		if v.sasl {
			// An answer to a 334 follows the same line rule, and its
			// refusal ends the exchange (saslBareNewline).
			v.hand(v.saslBareNewline())
			return nil
		}
		v.reply(replyBareNewlineCmd)
		return nil
	}
	if !v.sasl && bytes.IndexByte(line, 0) >= 0 {
		// A NUL is no character of any command (RFC 5321 §4.1.2's
		// syntax has none): the line is refused whole, as a bare CR
		// or LF is, before any command reads it — never a MAIL
		// parameter "not recognized", an address or a greeting name
		// (rt33b F6). A SASL response with one is malformed base64,
		// which its exchange answers (501 5.5.2).
		v.traceUnit(traceRefused, line)
		v.reply(replyNULCmd)
		return nil
	}
	v.traceUnit(traceLine, line)
	if v.sasl && v.againSASL != nil {
		// A response in the layer's own AUTH exchange (authAgain).
		v.sasl = false
		v.authAgainResponse(line)
		return nil
	}
	if v.sasl {
		// A response in go-smtp's AUTH exchange, not a command.
		v.hand(v.saslResponse(line))
		return nil
	}
	// The line as read once (readCommandLine): trailing blanks trimmed
	// except a BDAT's, its command and its argument.
	line, cmd, arg := c.line, c.cmd, c.arg
	if s := v.sess(); !v.exempt() && !c.quits() && (s == nil || !s.busy.Load() || junkVerb(cmd)) {
		if v.junk++; v.maxJunk > 0 && v.junk > v.maxJunk {
			v.limitHit(RejectJunkCommands, replyJunkLimit)
			return v.hangUp(replyJunkLimit)
		}
	}
	if !c.quits() && v.transactionTooLong(cmd) {
		v.limitHit(RejectTransactionTime, replyTxnTooLong)
		return v.hangUp(replyTxnTooLong)
	}
	if v.refusedClient != "" && cmd != "QUIT" {
		// RFC 5321 §3.1: a client refused at connection may only QUIT;
		// a well-formed BDAT's chunk is read and dropped, as anywhere
		// else, so that no chunk byte is taken for a command.
		if size, _, ok := parseBDAT(line); cmd == "BDAT" && ok {
			if err := v.readChunk(size, false); err != nil {
				return err
			}
		}
		v.reply(v.refusedClient)
		return nil
	}
	if cmd == "BDAT" {
		return v.bdatCommand(line)
	}
	if cmd == "STARTTLS" && !c.wholeVerb() {
		// go-smtp takes any line starting "STARTTLS" for STARTTLS.
		v.reply(replyUnrecognized)
		return nil
	}
	if (cmd == "RSET" || cmd == "QUIT") && arg != "" {
		// RFC 5321 §4.1.1.5, §4.1.1.10: no argument. Refused before
		// go-smtp (which ignores it) acts: nothing is reset, nothing
		// closed.
		v.reply("501 5.5.4 " + cmd + " takes no argument")
		return nil
	}
	if v.tlsOn.Load() && !v.greeted {
		switch cmd {
		case "EHLO", "HELO", "NOOP", "RSET", "QUIT":
		default:
			v.reply(replyGreetAgain)
			return nil
		}
	}
	if v.bdat {
		switch cmd {
		case "DATA", "MAIL", "RCPT", "STARTTLS":
			if cmd == "STARTTLS" && v.tlsNeverOffered() {
				break // unknown here, whatever the sequence: 502, as XSHADOW's (front38 F5)
			}
			// The client has lost track of the transfer: it fails, so
			// that no later chunk is added to a message the client
			// takes for failed or finished.
			v.reply(replyInTransfer)
			v.failBDAT()
			return nil
		case "RSET", "EHLO", "HELO", "QUIT":
			v.dropBDAT() // the transfer is abandoned
		}
	}
	if (cmd == "EHLO" || cmd == "HELO") && arg != "" {
		// The argument is one domain or address literal (helosyntax.go):
		// anything else is refused before go-smtp takes it, so no
		// session holds such a name.
		if r := greetingSyntax(cmd, arg); r != "" {
			v.reply(r)
			return nil
		}
		// The first greeting's name is checked as it makes the session
		// (checkGreeting); a later one's here, before go-smtp takes it.
		if s := v.sess(); s != nil {
			if r := s.checkGreetingAgain(cmd, arg); r != nil {
				v.reply(replyLines(r)...)
				return nil
			}
		}
	}
	if r := v.extensionSequence(cmd); r != "" {
		if cmd == "XSHADOW" && strings.HasPrefix(r, "502 ") {
			r = v.unofferedXShadow(arg, r) // a refusal of a holder's sessions too (shadowunoffered.go)
		}
		v.reply(r)
		return nil
	}
	switch cmd {
	case "VRFY":
		if arg == "" {
			// RFC 5321 §4.1.1.6: "VRFY" SP String — a syntax error
			// without one, not a 252 that speaks of a user.
			v.reply(replyVRFYSyntax)
			return nil
		}
		v.reply(replyVRFY)
		return nil
	case "STARTTLS":
		if v.tlsCfg != nil || v.startTLSConfig() != nil {
			v.startTLS(arg)
			return nil
		}
		if arg == "" && v.tlsOnlyAnew() {
			v.reply(replyTLSCannot)
			return nil
		}
	case "AUTH":
		mechs, insecure := v.authOffer()
		if len(mechs) == 0 {
			// Not "encryption required": TLS would not help.
			v.reply(replyAuthNotAvailable)
			return nil
		}
		if r := v.authSequence(); r != "" {
			// The sequence before the syntax (RFC 5321 §4.1.4): the
			// layer's syntax checks below would otherwise answer first.
			v.reply(r)
			return nil
		}
		if r := authCommand(arg); r != "" {
			// The syntax before the policy: AUTH without a mechanism
			// is 501 5.5.4 with or without TLS (rt17b-F5); 538 is about
			// the mechanism requested.
			v.reply(r)
			return nil
		}
		if !v.tlsOn.Load() && !insecure {
			// The mechanism before TLS (RFC 4954 §4): one the
			// connector does not offer is 504 with or without TLS —
			// 538 would send the client to negotiate TLS for a
			// mechanism it still would not get. After TLS (or with
			// allow_insecure) go-smtp's session answers the same 504
			// (session.authAllowed).
			if mech := strings.Fields(arg)[0]; !containsFold(mechs, mech) { // authCommand: one or two fields
				v.reply(replyLines(replyAuthUnknownMech)...)
				return nil
			}
			// Judged by allow_insecure in force whatever TLS the
			// connection was opened with: a reload may have given its
			// connector a certificate and taken allow_insecure away
			// from a connection that has no STARTTLS to offer.
			v.reply(v.replyAuthNeedsTLS())
			return nil
		}
		if v.goAuthed {
			// go-smtp would answer 503 "Already authenticated" for an
			// AUTH a reload revoked (authSequence let it through).
			v.authAgain(arg)
			return nil
		}
	case "XSHADOW":
		v.reply(v.xshadow(arg))
		return nil
	case "XQUERYDISCARD", "XQDISCARD":
		if r := v.xqueryDiscard(arg); r != "" {
			v.reply(r)
		}
		return nil
	case "XQUERYHELD":
		if r := v.xqueryHeld(arg); r != "" {
			v.reply(r)
		}
		return nil
	case "XQUERYKEPT":
		if r := v.xqueryKept(arg); r != "" {
			v.reply(r)
		}
		return nil
	case "XQUERYDROPPED":
		if r := v.xqueryDropped(arg); r != "" {
			v.reply(r)
		}
		return nil
	case "XQUERYTAKENDONE":
		if r := v.xqueryTakenDone(arg); r != "" {
			v.reply(r)
		}
		return nil
	case "XDISCARD":
		v.reply(v.xdiscard(arg))
		return nil
	case "MAIL":
		v.mailUTF8 = saysSMTPUTF8(parseMailLine(line).params)
		s := v.sess()
		if s != nil && s.busy.Load() {
			// The sequence before the parameters (the session's own
			// check, which the layer's parameter checks below would
			// otherwise answer first): the open transaction stays.
			v.reply(replyLines(replyNestedMail)...)
			return nil
		}
		if s == nil {
			break // no greeting yet: go-smtp's 503, before any parameter check
		}
		v.followSizeLimit(s)
		var reply string
		if line, reply = v.mailParams(line); reply != "" {
			v.reply(reply)
			return nil
		}
	case "DATA":
		if !v.inTransaction() {
			// Out of sequence (and perhaps malformed: the sequence
			// first), answered here: go-smtp says "Missing RCPT TO" with
			// no MAIL given either.
			v.reply(v.dataSequence())
			return nil
		}
		if r := v.sess().rightsLostBeforeBody(); r != nil {
			// Refused before the 354: the client sends no body to have
			// it refused after; the transaction ends here.
			v.reply(replyLines(r)...)
			v.synth("RSET\r\n")
			return nil
		}
	case "EHLO":
		if arg == "" { // "EHLO" is the line's whole first word (readCommandLine)
			// go-smtp's reply would name HELO; nothing changes state.
			v.reply("501 5.5.2 Domain/address argument required for EHLO")
			return nil
		}
		v.ehlo = true
	case "RCPT":
		if s := v.sess(); s == nil || !s.busy.Load() {
			break // no transaction: go-smtp's 503, before any parameter check
		}
		if r := verbKeyword(line, true); r != "" {
			v.reply(r)
			return nil
		}
		ml := parseMailLine(line) // its parameters read once (mailline.go)
		if c := ml.strayBracket(); c != 0 {
			v.reply(badPath(true, "a stray '"+string(c)+"' in the path"))
			return nil
		}
		if why := ml.pathFault(true); why != "" {
			v.reply(badPath(true, why))
			return nil
		}
		// <postmaster> is read here (rcptPostmaster); any other path
		// as go-smtp would read it (pathsyntax.go).
		if ml.postmasterPath() {
			if v.sess().srv.postmaster == "" {
				v.reply(replyNoPostmaster)
				return nil
			}
		} else if why := pathSyntax(line, true); why != "" {
			v.reply(badPath(true, why))
			return nil
		}
		if r := v.rcptParams(ml.params); r != "" {
			v.reply(r)
			return nil
		}
		// An ORCPT of another address type than rfc822 or utf-8 is
		// taken off the line for the session (orcpt.go): go-smtp
		// would refuse it.
		var r string
		s := v.sess()
		if s.foreignOrcpt, r = takeForeignOrcpt(&ml); r != "" {
			v.reply(r)
			return nil
		}
		// The reply names the recipient as the client gave it, not the
		// path go-smtp is handed.
		if given := rcptPostmaster(&ml, s.srv.postmaster != ""); given != "" {
			v.rcptAsGiven = given
		}
		line = ml.bytes()
	}
	if r := unknownCommand(cmd); r != "" {
		// go-smtp would answer it by its own error count (a 500 and a
		// close after a few); the layer's limits are the only ones.
		v.reply(r)
		return nil
	}
	v.last = cmd
	if cmd == "MAIL" || cmd == "RCPT" {
		v.lastParams = parseMailLine(line).params
	}
	v.hand(line)
	return nil
}

// mailParams checks the parameters of a MAIL line and takes the layer's
// own (XSHADOW=, XSHADOWCOPY=, …) off it: the line go-smtp gets, or the
// reply that refuses the command. The line is read once (mailLine); each
// step reads and changes that.
func (v *verbConn) mailParams(line []byte) ([]byte, string) {
	// Every MAIL starts with no shadow id and no copy, refused or not:
	// only this line's XSHADOW= / XSHADOWCOPY= (taken below) set them,
	// whichever way it is read (rr25 F3: a MAIL that skipped those steps
	// inherited the last transaction's id or copy).
	if s := v.sess(); s != nil {
		s.forgetShadowParams()
	}
	if r := verbKeyword(line, false); r != "" {
		return nil, r
	}
	ml := parseMailLine(line)
	if c := ml.strayBracket(); c != 0 {
		return nil, badPath(false, "a stray '"+string(c)+"' in the path")
	}
	if why := ml.pathFault(false); why != "" {
		return nil, badPath(false, why)
	}
	if why := pathSyntax(line, false); why != "" {
		return nil, badPath(false, why)
	}
	if v.helloOnly && len(ml.params) > 0 {
		if r := nonKeywordParam(ml.params, true); r != "" {
			return nil, r
		}
		return nil, replyMailParamsNeedEHLO
	}
	if v.declaredTooBig(ml.params) {
		if s := v.sess(); s != nil {
			// A refusal of the MAIL for its size, logged as every one
			// is (frontrt35 F2: it was not logged at all).
			s.srv.refusals.log(s.log, "sender refused", "declared_size_too_large", fixedReply(replyMailTooBig), s.ip, "max_message_size", v.sizeLimit())
		}
		return nil, replyMailTooBig
	}
	v.transportSize(&ml)
	// Where the shadow verbs are unknown (shadowOff) their MAIL
	// parameters are unknown ones (555 5.5.4, as go-smtp refuses any),
	// not "outside a shadow session" (rt24b F3's class).
	shadowOff := v.shadowOff()
	reply := ""
	if !shadowOff {
		reply = v.mailShadowParam(&ml)
	}
	if reply == "" {
		reply = checkParams(ml.params, true, !shadowOff)
	}
	if reply == "" && !shadowOff {
		reply = v.copyParams(&ml)
	}
	if reply != "" {
		return nil, reply
	}
	return ml.bytes(), ""
}

// extensionSequence is the reply to a command of a service extension
// (RFC 5321 §2.2.1: STARTTLS, AUTH and umbra's shadow verbs; BDAT in
// bdatCommand) where no EHLO made the extensions available: after a
// plain HELO, and STARTTLS before any greeting (RFC 3207 §4: the client
// learns of it from the EHLO reply). "" when cmd may come (or is no
// such command). The sequence comes before every other check of the
// command, as for MAIL and RCPT.
func (v *verbConn) extensionSequence(cmd string) string {
	switch cmd {
	case "STARTTLS":
		if v.startTLSConfig() == nil {
			return "" // not offered at all (or no more, a reload took the certificate): an EHLO would not help
		}
		if !v.greeted && !v.tlsOn.Load() {
			// No accepted EHLO yet — none sent, or a HELO check refused
			// the greeting (a client a connection check refused gets
			// refusedClient before this). The session object may exist
			// before any greeting, so the layer's own record decides.
			return replyNoGreeting
		}
	case "AUTH":
		if mechs, _ := v.authOffer(); len(mechs) == 0 {
			return "" // not offered at all: 502 5.5.1
		}
	case "XSHADOW", "XQUERYDISCARD", "XQDISCARD", "XQUERYHELD", "XQUERYKEPT", "XQUERYDROPPED", "XQUERYTAKENDONE", "XDISCARD":
		if v.shadowOff() {
			// Not offered at all: no greeting would make it available,
			// and nothing is said of the shadow protocol (rt24b F3).
			return "502 5.5.1 " + cmd + " not available"
		}
	default:
		return ""
	}
	if v.helloOnly && v.greeted {
		return replyNeedEHLO(cmd)
	}
	return ""
}

// shadowOff reports whether the shadow verbs and their MAIL parameters
// are unknown on this connection (502 5.5.1, 555 5.5.4): the connector
// offers them to nobody under the configuration now in force, and no
// shadow session is established here. Before a session exists the
// connector answers (noShadow); a session decides with its rights read
// now (refreshRights), the rights its EHLO offers XSHADOW with and
// XSHADOW is granted with, so that keyword, verbs and parameters agree.
// A shadow session established (XSHADOW answered 250) keeps its verbs
// and its MAIL parameters while it may go on: its primary puts XSHADOW=
// on every MAIL and takes a 5xx to it as a permanent failure of every
// recipient (rr25 F3); one that may not go on ends with 421 4.7.0 at
// its next verb or MAIL (shadowStanding: its server's standing lost, or
// the connector that takes its address now — its own or another — not
// granting it accept-xshadow: rr34 F1). XSHADOW
// itself opens a session and is granted with the rights now in force
// (xshadow).
func (v *verbConn) shadowOff() bool {
	s := v.sess()
	if s == nil {
		return v.noShadow != nil && v.noShadow()
	}
	if s.shadowServer != "" {
		return false
	}
	s.refreshRights()
	return !s.advertiseXShadow()
}

// replyNeedEHLO refuses a service extension's command after HELO.
func replyNeedEHLO(cmd string) string {
	return "503 5.5.1 Send EHLO first: " + cmd + " is a service extension, not available after HELO"
}

// authSequence is the reply to an AUTH out of sequence, whatever its
// arguments: before a greeting ("Send EHLO first", as for every command
// that needs one), after a successful AUTH that still holds, inside a
// mail transaction (RFC 4954 §4); "" when AUTH may come — also after an AUTH a reload revoked: the session
// has no authentication any more (authAgain).
func (v *verbConn) authSequence() string {
	s := v.sess()
	if s != nil && s.user != "" {
		// A login a reload ended (revoked, or one the connector now at
		// the address would not hold) is not one: judged by the
		// configuration in force before "Already authenticated", however
		// many reloads came since the last command; the next MAIL or
		// RCPT is still told why (standing).
		s.dropRevokedAuth()
		s.dropAuthOffAddress()
	}
	switch {
	case s == nil:
		return replyNoGreeting
	case s.user != "":
		return "503 5.5.1 Already authenticated"
	case s.busy.Load():
		return replyLines(replyAuthInTransaction)[0]
	}
	return ""
}

// dataSequence is the reply to a DATA out of sequence (RFC 5321's 503):
// it names the command missing first — the greeting, MAIL, then RCPT.
func (v *verbConn) dataSequence() string {
	s := v.sess()
	switch {
	case s == nil:
		return replyNoGreeting
	case !s.busy.Load():
		return "503 5.5.1 Send MAIL first"
	}
	return "503 5.5.1 Send RCPT first"
}

// unknownCommand is the layer's reply to a command umbra does not carry
// out: 502 5.5.1 for one it knows of but does not implement, 500 for a
// line go-smtp would refuse as unrecognized or unparseable (RFC 5321
// §4.2.4); "" for a command go-smtp answers itself.
func unknownCommand(cmd string) string {
	switch cmd {
	case "HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "VRFY",
		"AUTH", "STARTTLS":
		return ""
	case "":
		return replyUnrecognized // an empty line or no verb go-smtp can parse
	}
	if notImplemented(cmd) {
		return "502 5.5.1 " + cmd + " command not implemented"
	}
	return replyUnknownVerb
}

// notImplemented: a command of SMTP or one of its registered extensions
// that umbra knows of and does not offer. Each gets the same 502 5.5.1,
// from the layer (go-smtp would answer some of them 502 and ETRN, ATRN
// and BURL 500): EXPN and HELP (RFC 5321 §4.5.1 does not require them;
// EXPN would disclose lists), TURN, SEND, SOML and SAML (RFC 821, retired
// by RFC 5321), ETRN (RFC 1985: umbra keeps no per-domain queue for a
// client to start), ATRN (RFC 2645) and BURL (RFC 4468). A verb not in
// this list is unknown: 500 5.5.1.
func notImplemented(cmd string) bool {
	switch cmd {
	case "EXPN", "HELP", "TURN", "SEND", "SOML", "SAML", "ETRN", "ATRN", "BURL":
		return true
	}
	return false
}

// trimTrailingBlanks drops the spaces and tabs before a command line's
// CRLF; a line without a CRLF (refused as it is) is returned unchanged.
// The result never shares the reader's buffer past its own length.
func trimTrailingBlanks(line []byte) []byte {
	body, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok {
		return line
	}
	t := bytes.TrimRight(body, " \t")
	if len(t) == len(body) {
		return line
	}
	return append(t[:len(t):len(t)], '\r', '\n')
}

// commandLine is a command line as the layer reads it, once per line
// (readCommandLine), for the metric's label and the dispatch alike.
type commandLine struct {
	// line is what the layer acts on and go-smtp may be handed: the
	// line with the blanks before its CRLF dropped (RFC 5321 §4.1.1:
	// "NOOP ", "RSET\t", "DATA  " are tolerated), except a BDAT line,
	// which is taken as received: parseBDAT reads its strict syntax and
	// drops the blanks before its CRLF itself.
	line []byte
	// cmd is go-smtp's reading of the trimmed line's verb, else its
	// first word, upper-cased (lineCommand).
	cmd string
	// arg is the text after the first space, white space trimmed;
	// first is the first word as written.
	arg, first string
}

// quits reports whether the line is a QUIT that ends the session: the
// bare verb only. A QUIT with an argument is refused (501) and quits
// nothing, so it counts toward the junk and error limits as any other
// refused command does — else a client could repeat it without bound.
func (c commandLine) quits() bool { return c.cmd == "QUIT" && c.arg == "" }

// readCommandLine reads a command line (CRLF-terminated; or the start
// of one too long to read whole, or one with a bare CR or LF, for which
// only cmd counts): trailing blanks trimmed once, the text made a
// string once, the verb read once.
func readCommandLine(line []byte) commandLine {
	t := trimTrailingBlanks(line)
	s := string(bytes.TrimRight(t, "\r\n"))
	c := commandLine{line: t, cmd: lineCommand(s)}
	c.first, c.arg, _ = strings.Cut(s, " ")
	c.arg = strings.TrimSpace(c.arg)
	if c.cmd == "BDAT" {
		c.line = line
	}
	return c
}

// wholeVerb: the first word of the line is its command (go-smtp takes
// "STARTTLSX" for STARTTLS).
func (c commandLine) wholeVerb() bool { return strings.ToUpper(c.first) == c.cmd }

// hand gives go-smtp one complete line, in a buffer the session keeps
// (Read slices pending to nothing as go-smtp takes it).
func (v *verbConn) hand(line []byte) {
	v.handBuf = append(v.handBuf[:0], line...)
	v.pending = v.handBuf
}

// crlfOnly: line ends in CRLF and has no other CR or LF.
func crlfOnly(line []byte) bool {
	n := len(line)
	return n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' &&
		bytes.IndexByte(line[:n-2], '\r') < 0 && bytes.IndexByte(line[:n-2], '\n') < 0
}

// goSMTPVerb is the command go-smtp's parseCmd (parse.go, v0.25.1) makes
// of a line (its CRLF taken off), "" where it refuses the line. The layer
// classifies lines by it, so that it never disagrees with go-smtp about
// which command a line is.
func goSMTPVerb(s string) string {
	switch {
	case hasPrefixUpper(s, "STARTTLS"):
		return "STARTTLS"
	case len(s) < 4 || len(s) == 5:
		return ""
	case len(s) > 5 && s[4] != ' ':
		return ""
	}
	return strings.ToUpper(s[:4])
}

// hasPrefixUpper is strings.HasPrefix(strings.ToUpper(s), p) for an
// upper-case ASCII p, without upper-casing the whole of s where the
// bytes it compares are ASCII (the usual case).
func hasPrefixUpper(s, p string) bool {
	for i := 0; i < len(p) && i < len(s); i++ {
		if s[i] >= 0x80 {
			// A rune whose upper case is ASCII ('ſ' is 'S'): go-smtp's own way.
			return strings.HasPrefix(strings.ToUpper(s), p)
		}
	}
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// parseBDAT parses "BDAT" SP chunk-size [SP "LAST"] CRLF (RFC 3030),
// strictly: single spaces, digits only, a size that fits 32 bits. Blanks
// before the CRLF are tolerated as on every command line (RFC 5321
// §4.1.1): they are no part of the size or of LAST, and the chunk
// begins after the CRLF all the same.
func parseBDAT(line []byte) (size int64, last, ok bool) {
	s, crlf := strings.CutSuffix(string(line), "\r\n")
	if crlf {
		s = strings.TrimRight(s, " \t")
	}
	if len(s) < 6 || s[4] != ' ' {
		return 0, false, false
	}
	s = s[5:]
	num, rest, hasRest := strings.Cut(s, " ")
	if hasRest {
		if !strings.EqualFold(rest, "LAST") {
			return 0, false, false
		}
		last = true
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, false, false
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, false, false
	}
	return int64(n), last, true
}

// bdatCommand answers BDAT. The chunk of a well-formed BDAT is always
// read (RFC 3030 §2), refused or not, and never goes to go-smtp; the
// chunks of a message are collected here, and BDAT LAST hands the body
// to the session exactly as DATA does: go-smtp is given "DATA", its 354
// is dropped, and it reads an empty body while the session takes the
// real one with takeBody. A malformed BDAT gets 501 and no chunk.
func (v *verbConn) bdatCommand(line []byte) error {
	size, last, ok := parseBDAT(line)
	if v.tlsOn.Load() && !v.greeted {
		// After STARTTLS, before the new EHLO: the greeting first, as
		// for every command but EHLO, HELO, NOOP, RSET and QUIT (RFC
		// 3207 §4.2) — not "needs MAIL and RCPT", which the session's
		// discarded state would make sound true (frontrt35 F3). A
		// well-formed BDAT's chunk is read and dropped.
		if !ok {
			v.reply(replyGreetAgain)
			return nil
		}
		if err := v.readChunk(size, false); err != nil {
			return err
		}
		v.reply(replyGreetAgain + "; chunk discarded")
		return nil
	}
	if !ok && !v.inTransaction() {
		// Out of sequence and malformed: the sequence first. No byte
		// after a malformed BDAT is chunk data, as below.
		v.reply(replyBDATNoTxnSyntax)
		return nil
	}
	if !ok && v.helloOnly {
		// The sequence first: no byte after it is chunk data.
		v.reply(replyNeedEHLO("BDAT"))
		return nil
	}
	if !ok {
		v.reply(replyBDATSyntax)
		if v.bdat {
			// RFC 3030 §4.2: the client takes a 5xx to BDAT for the end
			// of the transaction; so does the server, or the client's
			// next BDAT LAST would be added to the message it believes
			// failed.
			v.failBDAT()
		}
		return nil
	}
	refuse := ""
	switch {
	case !v.inTransaction():
		refuse = replyBDATNoTxn
	case v.helloOnly:
		// CHUNKING is a service extension: none after HELO. The chunk
		// is read and dropped; the transaction stays for DATA.
		refuse = replyNeedEHLO("BDAT")
	case v.maxSize > 0 && v.bdatLen+size > v.sizeLimit(): // inclusive (RFC 1870)
		refuse = replyBDATTooBig
	}
	if v.transferTooSlow() {
		return v.rateCut()
	}
	var lost *gosmtp.SMTPError
	if refuse == "" && !v.bdat {
		// The first chunk: the transaction is judged before any of its
		// body is taken (rightsLostBeforeBody), as at DATA.
		if lost = v.sess().rightsLostBeforeBody(); lost != nil {
			refuse = replyLines(lost)[0]
		}
	}
	if refuse == "" && !v.bdat {
		v.lineLen, v.lineDot, v.bdatErr = 0, false, nil
		v.startBody()
	}
	if refuse != "" {
		if err := v.readChunk(size, false); err != nil {
			return err
		}
		if lost != nil {
			v.reply(replyLines(lost)...)
			v.failBDAT() // RFC 3030 §4.2: a 4xx to BDAT ends the transaction
			return nil
		}
		v.reply(refuse)
		if s := v.sess(); s != nil && refuse == replyBDATTooBig {
			// The message refused for its size, logged as DATA's is
			// (frontrt35 F2: it was not logged at all).
			s.srv.refusals.log(s.log, "message rejected", "message_too_large", fixedReply(refuse), s.ip, "max_message_size", v.sizeLimit())
		}
		if v.bdat || refuse == replyBDATTooBig {
			v.failBDAT()
		}
		return nil
	}
	if err := v.readChunk(size, true); err != nil {
		return err
	}
	v.bdat = true
	if !last {
		v.reply(fmt.Sprintf("250 2.0.0 %d octets received", size))
		return nil
	}
	if v.bdatErr != nil {
		// Refused as DATA refuses it: the whole message was read.
		v.body, v.bodyErr, v.hasBody = nil, v.bdatErr, true
		v.sink.abort()
	} else {
		v.endBody()
	}
	v.bdat, v.bdatLen, v.bdatErr = false, 0, nil
	v.synthData = true
	v.last = "DATA"
	v.synth("DATA\r\n")
	return nil
}

// failBDAT ends the transaction of a BDAT that was refused: the
// transfer, its data and spool file go, and go-smtp forgets MAIL and
// RCPT too.
func (v *verbConn) failBDAT() {
	v.dropBDAT()
	v.synth("RSET\r\n")
}

// synth hands go-smtp a command of the layer's own; its reply is not the
// client's (dropped in Write), except for the DATA of BDAT LAST.
func (v *verbConn) synth(cmd string) {
	if cmd != "DATA\r\n" {
		v.swallow++
	}
	v.hand([]byte(cmd))
}

// readChunk reads a BDAT chunk of size bytes, into the body's sink when
// keep (in memory, past the threshold to its spool file).
// The read deadline moves on with each piece that arrives.
func (v *verbConn) readChunk(size int64, keep bool) error {
	var seen []byte // for the trace only
	if !v.bdat {
		// The first chunk of a transfer: its rate budget runs from here
		// to BDAT LAST, over all chunks (and the commands between them).
		v.startRate()
	}
	v.inChunk = true
	defer func() { v.inChunk = false }()
	for got := int64(0); got < size; {
		v.bodyDeadline()
		piece := int(min(size-got, 64<<10))
		if cap(v.scratch) < piece {
			v.scratch = make([]byte, 64<<10)
		}
		dst := v.scratch[:piece]
		n, err := v.r.Read(dst) // what has come, so a large chunk streams on
		if err == nil && n == 0 {
			err = io.ErrNoProgress
		}
		if keep {
			if v.bdatErr == nil && v.lineOver(dst[:n], false) {
				v.bdatErr = replyDataLineTooLong
				v.sink.abort() // read on to LAST, keeping nothing
			}
			if v.bdatErr == nil {
				v.sink.write(dst[:n])
			}
			v.bdatLen += int64(n)
		}
		if v.trace != nil {
			seen = append(seen, dst[:n]...)
		}
		got += int64(n)
		if err != nil {
			return v.readError(err)
		}
		if !v.creditRate(int64(n)) {
			return v.rateCut()
		}
	}
	v.traceUnit(traceChunk, seen)
	return nil
}

// declaredTooBig: MAIL declares SIZE=<digits> over max_message_size
// (RFC 1870 §6.1: 552 5.3.4), however many digits (go-smtp parses the
// value as 32 bits and would answer a larger one with 501).
func (v *verbConn) declaredTooBig(ps []mailParam) bool {
	if v.maxSize <= 0 {
		return false
	}
	for _, p := range ps {
		if p.key != "SIZE" || p.value == "" || strings.Trim(p.value, "0123456789") != "" {
			continue
		}
		n, err := strconv.ParseUint(p.value, 10, 64)
		if err != nil || n > uint64(v.sizeLimit()) {
			return true // all digits, too large even for 64 bits, or over the limit
		}
	}
	return false
}

// junkVerb: commands that move no mail forward. They count against
// max_junk_commands inside a transaction too (NOOP, RSET, VRFY, ETRN),
// so NOOPs
// inside a transaction cannot hold a session for ever.
func junkVerb(cmd string) bool {
	switch cmd {
	case "NOOP", "RSET", "VRFY", "EXPN", "HELP", "EHLO", "HELO", "ETRN":
		return true
	}
	return false
}

// transferTooSlow: the open BDAT transfer is past its min_data_rate
// deadline on the session clock (rateBudget), so a trickle of small
// chunks, or commands between them, cannot hold the session.
func (v *verbConn) transferTooSlow() bool {
	return v.bdat && (v.idle > 0 && v.clkRate.expired(v.clk.Now()) || v.dataTooLong(v.clk.Now()))
}

// transactionTooLong: the open mail transaction's command phase has
// lasted longer than max_transaction_time on the session's clock. It is
// timed from the MAIL that opened it to DATA or the first BDAT chunk;
// the transfer is min_data_rate's. The layer reads the next line only
// once go-smtp has taken the last, so the transaction a command finds
// open is the one the last MAIL read outside one opened (mailAt): the
// gap to the next command, up to idle_timeout, is the transaction's too
// (front38 F2). Transport servers are exempt.
func (v *verbConn) transactionTooLong(cmd string) bool {
	s := v.sess()
	now := v.clk.Now()
	if s == nil || !s.busy.Load() {
		v.txnStart = time.Time{}
		if cmd == "MAIL" {
			v.mailAt = now
		}
		return false
	}
	if v.txnStart.IsZero() {
		v.txnStart = v.mailAt
		if v.txnStart.IsZero() {
			v.txnStart = now
		}
	}
	return v.maxTxn > 0 && !v.bdat && !v.exempt() && now.Sub(v.txnStart) > v.maxTxn
}

// inTransaction: MAIL and at least one RCPT were accepted and the
// transaction has not ended.
func (v *verbConn) inTransaction() bool {
	s := v.sess()
	return s != nil && s.busy.Load() && (len(s.rcpt) > 0 || v.bdat)
}

// exempt: transport servers (kept-open shadow sessions) are not held to
// the junk command limit — authenticated ones (trustedServer): a client
// of an externally secured connector that the topology does not know as
// a server is held to it like anyone.
func (v *verbConn) exempt() bool {
	s := v.sess()
	return s != nil && s.trustedServer()
}

func (v *verbConn) refreshDeadline() {
	if v.idle > 0 {
		v.conn.SetReadDeadline(time.Now().Add(v.idle))
	}
}

// bodyDeadline: a body (or chunk) must arrive by its min_data_rate
// deadline (rateBudget), at most idle_timeout after its last read, so a
// trickle cannot hold the session for ever and a large body on a slow
// link is not cut off.
func (v *verbConn) bodyDeadline() {
	d := time.Time{}
	if v.idle > 0 {
		d = v.wallRate.deadline
	}
	if v.maxData > 0 && !v.exempt() {
		// The whole transfer's bound (max_data_time): the read waits no
		// longer than it either.
		if end := v.bodyWall.Add(v.maxData); d.IsZero() || end.Before(d) {
			d = end
		}
	}
	if !d.IsZero() {
		v.conn.SetReadDeadline(d)
	}
}

// idleWithRepliesUnread: err is the read timeout of an idle session
// (no body coming: idle_timeout) whose client has not taken the replies
// written to it — they wait in the socket's send queue (unsentBytes).
// Such a client is not idle, it does not read: a pipelining client that
// never reads, whose replies all fit in the socket's buffer, so that no
// write blocked and timed out. Its session ends as a write timeout does
// (front39 F1), nothing more written behind the replies it never read.
func (v *verbConn) idleWithRepliesUnread(err error) bool {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || v.timeoutReply() != replyIdleTimeout || v.tc == nil {
		return false
	}
	n, ok := unsentBytes(v.tc.Conn)
	return ok && n > 0
}

// readError ends the session on a failed read: a timeout gets 421 4.4.2,
// anything else (the client went away) just ends it. Whatever partial
// line or chunk was read is dropped. go-smtp is told the stream ended
// (io.EOF) whatever broke it — a reset, a TLS record error: it wrote a
// 421 nobody reads for any other error and logged it at WARN, a line per
// connection any client could make by resetting its own (rt26b F1's
// sibling); the session's disconnect line records the end, and the
// error itself is logged at DEBUG.
func (v *verbConn) readError(err error) error {
	if errors.Is(err, errRepliesNotRead) || v.idleWithRepliesUnread(err) {
		// A reply's write timed out: the client does not read. Nothing
		// more can be written (a part of a reply may be out already);
		// the session ends, named for what happened.
		v.limitHit(RejectWriteTimeout, "")
		v.closed = true
		v.dropBody()
		v.traceUnit(traceClosed, nil)
		v.conn.Close()
		return io.EOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r := v.timeoutReply()
		switch r {
		case replyDataRate:
			v.limitHit(RejectDataRate, r)
		case replyDataTime:
			v.limitHit(RejectDataTime, r)
		case replyLineTimeout:
			v.endLog(endLineTimeout, r)
		default:
			v.endLog(endIdleTimeout, r)
		}
		return v.hangUp(r)
	}
	v.traceUnit(traceEOF, nil)
	v.closed, v.gone = true, true
	v.dropBody() // a body cut off: its spool file goes
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		if l := v.logger(); l != nil {
			l.Debug("client connection broke", "err", err)
		}
	}
	return io.EOF
}

// logger is the session's logger, or before a session exists the
// connection's (nil when neither: tests' bare layers).
func (v *verbConn) logger() *slog.Logger {
	if v.sess != nil {
		if s := v.sess(); s != nil {
			return s.log
		}
	}
	if tc := v.tc; tc != nil && tc.stats.log != nil {
		return tc.stats.log
	}
	return nil
}

// errorWait waits error_delay on the session's clock, or until the
// server drains or stops (the session is closed then).
func (v *verbConn) errorWait() {
	t := v.clk.NewTimer(v.errorDelay)
	defer t.Stop()
	var draining, done <-chan struct{}
	if s := v.sess(); s != nil {
		draining, done = s.srv.draining, s.srv.ctx.Done()
	}
	select {
	case <-t.C():
	case <-draining:
	case <-done:
	}
}

// limitHit logs and counts a session ended by a limit (why is one of a
// few fixed strings: a bounded metric label), before EHLO (no go-smtp
// session yet) as after it; the line names reply, the session's last
// (endLog; "" where none could be written).
func (v *verbConn) limitHit(why, reply string) {
	if s := v.sess(); s != nil {
		s.srv.obs.Rejected(s.c.cfg.Name, why)
		v.endLog(why, reply)
	} else if tc := v.tc; tc != nil && tc.c != nil && tc.stats.log != nil {
		tc.c.obs.Rejected(tc.c.cfg.Name, why)
		v.endLog(why, reply)
	}
}

// hangUp writes the session's last reply and closes the connection;
// go-smtp then sees the end of the stream.
func (v *verbConn) hangUp(reply string) error {
	if v.tc != nil {
		v.tc.endSession() // the session is over: its slot is free before the write waits
	}
	v.replyWithin(min(10*time.Second, v.replyWait()), reply)
	v.closed = true
	v.dropBody()
	v.traceUnit(traceClosed, []byte(reply))
	v.conn.Close()
	return io.EOF
}

// rcptOvershootLimit is how many recipients over max_recipients a client
// may name (each answered 452 4.5.3, never counted as an error) between
// two accepted messages: after one more the session ends with
// replyRcptLimit — no client sends so many, and one that keeps naming
// recipients past the limit is cut off (Postfix's
// smtpd_recipient_overshoot_limit, 1,000 too, counts the excess as
// errors instead; umbra's reply names the recipients, not errors).
const rcptOvershootLimit = 1000

// noteReply watches the final line of every reply the client gets: it
// counts errors, and a 250 to the end of a message resets the junk and
// error counts (the limits bound a client that delivers nothing).
func (v *verbConn) noteReply(line []byte) {
	if len(line) < 4 || line[3] != ' ' && line[3] != '\r' {
		return
	}
	code, err := strconv.Atoi(string(line[:3]))
	if err != nil {
		return
	}
	v.noteCopyRefusal(code)
	if v.result && code != 354 {
		v.result = false
		if code/100 == 2 {
			v.junk, v.errors, v.delayed, v.surplus = 0, 0, 0, 0 // a client that delivers mail starts afresh
		}
	}
	switch {
	case code < 400, code == 421, code == 451, bytes.HasPrefix(line, []byte("452 4.3.1")):
		// Not the client's error.
	case bytes.HasPrefix(line, []byte("452 4.5.3")):
		// Recipients over max_recipients: the client sends them in a
		// later transaction (RFC 5321 §4.5.3.1.8), no error of its own;
		// a surplus no client sends ends the session (fillCommand).
		v.surplus++
	default:
		v.errors++
	}
}

// authLineMax is the longest AUTH command line and SASL response, CRLF
// included, that a server must take (RFC 4954 §4: 12288 octets), whatever
// max_line_length says for the other commands.
const authLineMax = 12288

// authLine reports whether a line over max_line_length may still run to
// authLineMax: a SASL response (the line after a 334), or a line whose
// command go-smtp reads as AUTH (goSMTPVerb of its start: "AUTH " in any
// ASCII case). No other command gets that limit.
func (v *verbConn) authLine(start []byte) bool {
	if v.sasl {
		return true
	}
	return len(start) > 5 && goSMTPVerb(string(start[:6])) == "AUTH"
}

// readLine reads one line up to and including its CRLF: a bare LF does
// not end a line (the line containing it is refused whole, and nothing
// after the bare LF runs as a command, as with a bare CR). tooLong
// reports a line over maxLine — over authLineMax for an AUTH line or a
// SASL response (authLine) where that is more — (its rest unread); on
// error line is the partial line.
func (v *verbConn) readLine() (line []byte, tooLong bool, err error) {
	var out []byte
	for {
		frag, err := v.r.ReadSlice('\n')
		out = append(out, frag...)
		if v.maxLine > 0 && len(out) > v.maxLine && (len(out) > authLineMax || !v.authLine(out)) {
			return out, true, nil // the start of the line: the command it is (cmdcount.go)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil && (len(out) < 2 || out[len(out)-2] != '\r') {
			continue // a bare LF: the line goes on to its CRLF
		}
		return out, false, err
	}
}
