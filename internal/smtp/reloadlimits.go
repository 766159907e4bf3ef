package smtp

import (
	"strconv"
	"strings"

	"umbra/internal/config"
)

// What an open session takes of its connector's settings at a reload
// (authreload.go has its rights and authentication): the configuration
// in force — the connector of the session's name as reloaded — from the
// next command on, each setting where an operator who changed it
// expects it to bite; a connector the reload removed or renamed leaves
// the session the settings it began with.
//
//   - idle_timeout, max_junk_commands, max_errors, soft_error_limit,
//     error_delay, max_transaction_time, min_data_rate and max_data_time
//     (followLimits): the values in force, raised or lowered, at the
//     next command the layer reads — the next line's read deadline, the
//     next junk or error count (a count already past a lowered limit
//     ends the session at that command), the open transaction's age at
//     its next command, the next body's rate and duration. A BDAT
//     transfer under way keeps the limits it began with until it ends.
//   - max_acknowledgement_delay: the next transaction's, as its MAIL
//     took it (delaysAck, awaitConfirmation; reloadtxn.go); a shadow
//     session's long poll is bounded by the idle_timeout in force
//     (waitDiscards).
//   - externally_secured taken away is not given back by a STARTTLS
//     (forgetAfterTLS keeps the trust only where the connector in force
//     has it, as serverNow does).
//   - max_line_length stays as the session began (go-smtp's reader has
//     it).
//   - max_message_size and max_recipients: lowered, from the next MAIL,
//     kept to the transaction's end (followSizeLimit, recipientLimit,
//     maxRecipients: reloadtxn.go), and an EHLO after the
//     reload announces the lowered one (ehloLimits, ehloRcptMax);
//     raised, nothing: the session keeps the ones it began with
//     (go-smtp its max_message_size, recipientLimit its
//     max_recipients).
//   - the certificate and client CA (tls): the next STARTTLS handshake
//     on the connection is made with the connector in force's
//     (startTLSConfig); a connection opened without one never gets
//     STARTTLS (new connections do), and where the reload took the
//     certificate away its next EHLO offers none and a STARTTLS is 454
//     4.7.0 — a handshake a 220 already promised, and a session under
//     TLS, keep theirs.
//   - the checks (rate_limits, message authentication, connection
//     filters, milters): the connector in force's from the next MAIL
//     (followChecks, authreload.go) — a check without per-session state
//     as the reload built it; a milter's session state kept while the
//     connector in force still has that milter, closed when it does
//     not, and one the reload adds does not join (its connect and
//     greeting have passed); a session made after the reload (its first
//     EHLO) opens the checks in force then (openChecks).

// takeLimits sets the layer's limits from l.
func (v *verbConn) takeLimits(l config.Limits) {
	v.idle, v.maxJunk, v.maxErrors, v.minRate = l.IdleTimeout.D(), l.MaxJunkCommands, l.MaxErrors, int64(l.MinDataRate)
	v.writeWait.Store(int64(v.idle))
	v.softErrors, v.errorDelay = l.SoftErrorLimit, l.ErrorDelay.D()
	v.maxTxn, v.maxData = l.MaxTransactionTime.D(), l.MaxDataTime.D()
}

// connInForce is the connection's connector as the configuration in
// force has it, nil when a reload removed or renamed it (or the layer
// was built without a server, in tests).
func (v *verbConn) connInForce() *connector {
	if v.inForce == nil {
		return nil
	}
	return v.inForce()
}

// followLimits takes the limits of the connector in force before a
// command is read (see above); a BDAT transfer under way keeps its own.
func (v *verbConn) followLimits() {
	if v.bdat {
		return
	}
	if c := v.connInForce(); c != nil {
		v.takeLimits(c.cfg.Limits)
	}
}

// ehloLimits rewrites the SIZE line of go-smtp's EHLO reply (made from
// the connector the session began on) to the limit that holds the
// session now: a max_message_size a reload lowered is announced at the
// next EHLO. line is one reply line without its CRLF; it is returned
// unchanged when nothing is lowered.
func (v *verbConn) ehloLimits(line string) string {
	s := v.sess()
	if s == nil || len(line) < 4 {
		return line
	}
	if kw := line[4:]; strings.HasPrefix(strings.ToUpper(kw), "SIZE") {
		v.followSizeLimit(s)
		if v.maxSize > 0 && v.maxSize != v.ownMaxSize {
			return line[:4] + "SIZE " + strconv.FormatInt(v.maxSize, 10)
		}
	}
	return line
}

// ehloRcptMax is the EHLO keyword announcing max_recipients (RFC 9422
// LIMITS RCPTMAX=), "" for none: the session's own, or a lower one a
// reload put in force, which holds its next transaction
// (recipientLimit). The verb layer writes it, not go-smtp, which is
// given no limit to hold (newGoSMTP).
func (v *verbConn) ehloRcptMax() string {
	s := v.sess()
	if s == nil {
		return ""
	}
	max, now := s.c.cfg.Limits.MaxRecipients, s.inForceOrOwn().cfg.Limits.MaxRecipients
	if now > 0 && (max <= 0 || now < max) {
		max = now
	}
	if max <= 0 {
		return ""
	}
	return "LIMITS RCPTMAX=" + strconv.Itoa(max)
}
