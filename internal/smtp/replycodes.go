package smtp

import (
	"bytes"
	"strings"
)

// goSMTPReplyFixes give go-smtp's replies the codes RFC 5321 asks for:
// 503 for a command out of sequence (go-smtp says 502, "not
// implemented"), in the words umbra's own layer gives the same refusal
// (replyNoGreeting, dataSequence: "Send MAIL first", not go-smtp's
// "Please introduce yourself first." or "Missing MAIL FROM command."), 555 for a MAIL or RCPT parameter not recognized
// (§4.1.1.11, §4.3.2; go-smtp says 500), 501 for a malformed one; and
// to its acceptance of MAIL and RCPT the enhanced codes RFC 3463 gives
// them, 2.1.0 (the sender) and 2.1.5 (the destination), where go-smtp
// says 2.0.0.
var goSMTPReplyFixes = []struct{ from, to string }{
	{"502 5.5.1 Please introduce yourself first.", replyNoGreeting},
	{"502 5.5.1 Missing MAIL FROM command.", "503 5.5.1 Send MAIL first"},
	{"502 5.5.1 Missing RCPT TO command.", "503 5.5.1 Send MAIL and RCPT first"}, // go-smtp's for DATA and BDAT with no MAIL too
	{"502 5.5.1 MAIL not allowed during message transfer", "503 5.5.1 MAIL not allowed during a mail transaction"},
	{"502 5.5.1 RCPT not allowed during message transfer", "503 5.5.1 RCPT not allowed during message transfer"},
	{"502 5.5.1 DATA not allowed during message transfer", "503 5.5.1 DATA not allowed during message transfer"},
	{"500 5.5.4 Unknown MAIL FROM argument", "555 5.5.4 MAIL FROM parameter not recognized"},
	{"500 5.5.4 Unknown RCPT TO argument", "555 5.5.4 RCPT TO parameter not recognized"},
	{"500 5.5.4 Malformed AUTH parameter", "501 5.5.4 Malformed AUTH parameter"},
	{"502 5.5.4 Missing parameter", "501 5.5.4 Missing parameter"},
	{"250 2.0.0 Roger, accepting mail from <", "250 2.1.0 Roger, accepting mail from <"},
	{"250 2.0.0 I'll make sure <", "250 2.1.5 I'll make sure <"},
}

// fixReplyCode rewrites one reply line of go-smtp's per
// goSMTPReplyFixes; a MAIL or RCPT parameter of an extension not
// enabled (go-smtp's 504 5.5.4 "BINARYMIME is not implemented") is
// umbra's 555 5.5.4 naming the parameter (notEnabledReply). Other lines
// are returned as they are.
func (v *verbConn) fixReplyCode(b []byte) []byte {
	if r := v.paramValueReply(b); r != nil {
		return r
	}
	for _, f := range goSMTPReplyFixes {
		if bytes.HasPrefix(b, []byte(f.from)) {
			return append([]byte(f.to), b[len(f.from):]...)
		}
	}
	if (v.last == "MAIL" || v.last == "RCPT") && bytes.HasPrefix(b, []byte("504 5.5.4 ")) &&
		bytes.HasSuffix(bytes.TrimRight(b, "\r\n"), []byte(" is not implemented")) {
		return notEnabledReply(v.last == "MAIL", string(bytes.TrimSuffix(bytes.TrimRight(b, "\r\n")[len("504 5.5.4 "):], []byte(" is not implemented"))))
	}
	return b
}

// notEnabledReply is umbra's refusal of a MAIL (mail) or RCPT parameter
// of an extension go-smtp names as not enabled (ext, from its "EXT is
// not implemented"): 555 5.5.4 (RFC 5321 §4.1.1.11) naming the
// parameter as the command carries it, "not supported" — as unknownParam
// words RRVS, BY and MT-PRIORITY. go-smtp named the extension, not the
// parameter ("DELIVERBY", "BINARYMIME" for BODY=BINARYMIME).
func notEnabledReply(mail bool, ext string) []byte {
	param := ext
	switch ext {
	case "BINARYMIME":
		param = "BODY=BINARYMIME"
	case "DELIVERBY":
		param = "BY"
	}
	return []byte("555 5.5.4 " + paramsVerb(mail) + " parameter " + echoedParam(param) + " not supported\r\n")
}

// goSMTPValueRefusals are go-smtp's refusals of a MAIL or RCPT parameter
// whose value it cannot read (conn.go handleMail, handleRcpt), by the
// parameter and what its value must be. go-smtp is the one that reads
// these values (the layer hands them on), so its refusal is what says
// which one failed — it reads the parameters in no set order —, and
// paramValueReply gives it umbra's words: the parameter as the client
// wrote it and what was expected (front48 item 1).
var goSMTPValueRefusals = []struct{ from, key, want string }{
	{"501 5.5.4 Unable to parse SIZE as an integer", "SIZE", "expected a number of octets"},
	{"501 5.5.4 Unknown BODY value", "BODY", "expected 7BIT or 8BITMIME"},
	{"501 5.5.4 Unknown RET value", "RET", "expected FULL or HDRS"},
	{"501 5.5.4 Malformed ENVID parameter value", "ENVID", "expected xtext of printable ASCII"},
	{"500 5.5.4 Malformed AUTH parameter value", "AUTH", "expected xtext of an address or <>"},
	{"500 5.5.4 Malformed AUTH parameter mailbox", "AUTH", "expected xtext of an address or <>"},
	{"501 5.5.4 Malformed NOTIFY parameter value", "NOTIFY", "expected NEVER, or SUCCESS, FAILURE, DELAY separated by ','"},
	{"501 5.5.4 Malformed ORCPT parameter value", "ORCPT", "expected an address type, ';' and an xtext address"},
	{"501 5.5.4 Unable to parse MAIL ESMTP parameters", "", "a value holds no '='"},
	{"501 5.5.4 Unable to parse RCPT ESMTP parameters", "", "a value holds no '='"},
}

// paramValueReply is umbra's reply for go-smtp's refusal b of a
// parameter value of the last MAIL or RCPT (goSMTPValueRefusals):
// "501 5.5.4 Syntax error in MAIL FROM parameters: BODY=X: expected
// 7BIT or 8BITMIME"; nil for any other line.
func (v *verbConn) paramValueReply(b []byte) []byte {
	if v.last != "MAIL" && v.last != "RCPT" {
		return nil
	}
	line := bytes.TrimRight(b, "\r\n")
	for _, f := range goSMTPValueRefusals {
		if string(line) != f.from {
			continue
		}
		named := ""
		for _, p := range v.lastParams {
			if p.key == f.key || f.key == "" && strings.Contains(p.value, "=") {
				named = echoedParam(p.written()) + ": "
				break
			}
		}
		return []byte("501 5.5.4 Syntax error in " + paramsVerb(v.last == "MAIL") + " parameters: " + named + f.want + "\r\n")
	}
	return nil
}
