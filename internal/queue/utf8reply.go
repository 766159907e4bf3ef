package queue

// The refusals of a next hop that does not offer SMTPUTF8 (RFC 6531
// §3.2), made by delivery before the hop is asked. A message needs the
// extension at a hop only for what it holds that is not ASCII: its
// envelope sender (every recipient of the message then fails), a
// recipient of that transaction (only that recipient fails; the ASCII
// recipients of the message go in a transaction of their own, without
// SMTPUTF8), or its header fields (every recipient fails). Each is one
// text wherever it is stated — the recipient's last reply, the tracking
// and daemon logs, queue show, the DSN (to a sender outside the
// organisation too: it names nothing but this server's decision,
// plainOwnTexts) and the recipient callout — and names no host: the
// next hop is the record's own field (NextHop, next_hop).
const (
	ReplyRcptNeedsSMTPUTF8   = "553 5.6.7 " + rcptNeedsSMTPUTF8Text
	ReplySenderNeedsSMTPUTF8 = "553 5.6.7 " + senderNeedsSMTPUTF8Text
	ReplyHeadersNeedSMTPUTF8 = "550 5.6.7 " + headersNeedSMTPUTF8Text
	rcptNeedsSMTPUTF8Text    = "the recipient's address is not ASCII, and the next hop does not support SMTPUTF8"
	senderNeedsSMTPUTF8Text  = "the sender's address is not ASCII, and the next hop does not support SMTPUTF8"
	headersNeedSMTPUTF8Text  = "the message has non-ASCII header fields, and the next hop does not support SMTPUTF8"
)

// RcptNeedsSMTPUTF8Text is ReplyRcptNeedsSMTPUTF8 without its codes:
// the session's reply to a recipient its callout did not ask for this
// reason says the same words.
const RcptNeedsSMTPUTF8Text = rcptNeedsSMTPUTF8Text

// smtputf8Refusal reports whether reply is one of the refusals above:
// umbra's words, decided from the next hop's EHLO (or LHLO) answer
// (dsnReporter: the host reported the status; no Diagnostic-Code, which
// quotes only a server's reply: remoteDiagnostic).
func smtputf8Refusal(reply string) bool {
	return reply == ReplyRcptNeedsSMTPUTF8 || reply == ReplySenderNeedsSMTPUTF8 || reply == ReplyHeadersNeedSMTPUTF8
}
