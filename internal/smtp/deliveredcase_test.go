package smtp

import "testing"

// A Delivered-To names a mailbox the message reached before. For a
// domain this organisation is authoritative for, the mailbox compares in
// ASCII case and the message is a loop (554 5.4.6); for a domain it
// only relays to, a Delivered-To naming td@ is no loop of TD@, which the
// destination may hold apart (rt17b-F2's rule, RFC 5321 §2.4).
func TestDeliveredToLoopByRecipientKey(t *testing.T) {
	for _, c := range []struct{ rcpt, delivered, want string }{
		{"b@example.test", "B@Example.test", "554 5.4.6"},
		{"TD@relay.test", "TD@RELAY.test", "554 5.4.6"},
		{"TD@relay.test", "td@relay.test", "250"},
	} {
		s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<"+c.rcpt+">", "250")
		d.cmd("DATA", "354")
		d.cmd("Delivered-To: "+c.delivered+"\r\nSubject: x\r\n\r\nhi\r\n.", c.want)
	}
}

// SMTP-7 (loop detection): a Delivered-To written for a recipient whose
// quoted local part holds an unclosed quote ("\"abc"@…, as the Maildir
// writer names the recipient stored) names that recipient: the field is
// read as RCPT reads the path, its local part by its content, quoted
// again as RCPT quotes it.
func TestDeliveredToQuotedLocalPartAsRCPTReadsIt(t *testing.T) {
	for _, rcpt := range []string{`"\"abc"@example.test`, `"\""@example.test`, `"\"a b"@example.test`, `"a\"b"@example.test`, `"an na"@example.test`} {
		s := startServer(t, &fakeQueue{}, connectors(t, anon)...)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<"+rcpt+">", "250")
		d.cmd("DATA", "354")
		d.cmd("Delivered-To: "+rcpt+"\r\nSubject: x\r\n\r\nhi\r\n.", "554 5.4.6")
	}
}
