package smtp

// What a mail transaction takes of its receive connector at a reload
// (reloadlimits.go has the session's limits, authreload.go its rights and
// authentication): each transaction reads the connector's settings in
// force when its MAIL is taken — the connector of the session's name as
// the configuration then has it, or the one the session began on when a
// reload removed or renamed it — and keeps that snapshot to its end
// (txConn): a reload during DATA never changes a message half-way, and
// one before the next MAIL reaches a session opened before it. The
// settings read so:
//
//   - bare_newlines (the body's reading, the end-of-data check, a spooled
//     body's end);
//   - dkim_sign (originInside: whether the message is the organisation's);
//   - shadow_on_receipt and reject_on_shadow_failure (copiesOnReceipt,
//     submitWithCopyBody);
//   - max_acknowledgement_delay (delaysAck, awaitConfirmation: asked twice
//     at the end of data, once before the commit and once after);
//   - max_message_size and max_recipients as a reload lowered them
//     (followSizeLimit at MAIL; recipientLimit and the recipients a
//     check adds: maxRecipients); go-smtp holds the session to those its
//     EHLO announced, so a raised limit is not followed;
//   - tls.required, auth.required and the checks (openMail, followChecks),
//     which MAIL judges anyway — the requirements and checks of the
//     connector that takes the session's address now where its own no
//     longer does (requireConn, kept as txReq; followChecks: atAddress).
//
// Not so, each for its reason: the permissions and the authentication are
// judged again at each RCPT (refreshRights, standing) and, for the
// recipients already taken, at DATA or the first BDAT chunk and at the
// end of data (rightlost.go), since a reload that takes a right or an
// account away must bite at once (SMTP-3), and
// so is the trust of externally_secured, at each use (serverNow,
// trustedServer, claimOwn: given by both the connector the session
// began on and the one in force, never by the first alone); a shadow
// copy's recipients are its primary's, bounded in a copy batch
// (keepBatch) by the max_recipients the session began with, as go-smtp
// bounds a single copy's RCPTs;
// timeouts, junk and error limits and the data rate follow the next
// command (followLimits), being the connection's, not a message's;
// max_line_length, the banner and the bindings stay the connection's
// (go-smtp's reader, the greeting, the listener); STARTTLS is offered
// while the connection was opened with a TLS configuration and the
// connector in force still has a certificate (startTLSConfig, verbs.go),
// and the certificate is the next handshake's (reloadlimits.go).

// txConn is the connector whose settings the session's transaction reads:
// the one in force at its MAIL, kept to its end; outside a transaction,
// the one in force now.
func (s *session) txConn() *connector {
	if s.txc != nil {
		return s.txc
	}
	return s.inForceOrOwn()
}
