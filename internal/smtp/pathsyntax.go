package smtp

import (
	"bytes"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// go-smtp (v0.25.1, conn.go handleMail and handleRcpt, parse.go) reads a
// MAIL or RCPT line as: the text after the verb and its space, blanks
// trimmed; "FROM:" or "TO:" in any case; then, blanks trimmed, a path
// its parser reads (parseReversePath, parsePath). Where either fails it
// answers its own "501 5.5.2 Was expecting MAIL arg syntax of
// FROM:<address>", which says neither what is wrong nor where. The
// layer reads the line the same way first (verbKeyword, pathSyntax) and
// answers with umbra's own reply: 501 5.5.4 naming what was expected
// and what was found where "FROM:" or "TO:" is missing or misspelled,
// the malformed-path reply (501 5.1.7, 501 5.1.3) with its reason where
// the path is what go-smtp cannot read. go-smtp is then handed only a
// line it reads.

// verbArg is go-smtp's argument of a MAIL or RCPT line (parseCmd): the
// text after "MAIL " or "RCPT ", blanks trimmed.
func verbArg(line []byte) string {
	s := string(bytes.TrimRight(line, "\r\n"))
	if len(s) <= 5 {
		return ""
	}
	return strings.TrimSpace(s[5:])
}

// verbKeyword is the refusal of a MAIL (RCPT) line whose argument does
// not begin with "FROM:" ("TO:") in any case: 501 5.5.4 with what was
// expected and what was found, as the client wrote it (echoed, bounded);
// "" when the keyword is there.
func verbKeyword(line []byte, rcpt bool) string {
	verb, kw := "MAIL", "FROM:"
	if rcpt {
		verb, kw = "RCPT", "TO:"
	}
	arg := verbArg(line)
	if len(arg) >= len(kw) && strings.EqualFold(arg[:len(kw)], kw) {
		return ""
	}
	found := "nothing"
	if arg != "" {
		found = `"` + echoedParam(arg) + `"`
	}
	return "501 5.5.4 Syntax error in " + verb + " command: expected " + kw + "<address>, found " + found
}

// pathSyntax says, in the words of the malformed-path reply, why go-smtp's
// parser would not read the path of a line whose keyword is there
// (verbKeyword); "" when it reads it. It follows parse.go step by step,
// so that the layer and go-smtp never disagree about which paths are
// read.
func pathSyntax(line []byte, rcpt bool) string {
	arg := verbArg(line)
	kw := "FROM:"
	if rcpt {
		kw = "TO:"
	}
	if len(arg) < len(kw) {
		return "" // verbKeyword's
	}
	s := strings.TrimSpace(arg[len(kw):])
	if s == "" {
		return "no path after " + kw
	}
	if strings.HasPrefix(s, "<>") {
		if !rcpt {
			return ""
		}
		return "the null path <> names no recipient"
	}
	bracket := false
	if s[0] == '<' {
		bracket, s = true, s[1:]
	}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return "a source route without ':'"
		}
		if why := sourceRouteFault(s[:i]); why != "" {
			return why
		}
		s = s[i+1:]
	}
	// The local part: a quoted string, or a dot-string up to the '@'.
	local := 0
	if strings.HasPrefix(s, `"`) {
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
		}
		if i >= len(s) {
			return "an unterminated quoted local part"
		}
		local, s = i-1, s[i+1:]
		if local == 0 {
			return "an empty local part"
		}
		if !strings.HasPrefix(s, "@") {
			return "no '@' and domain after the quoted local part"
		}
	} else {
		i := 0
		for ; i < len(s) && s[i] != '@'; i++ {
			switch c := s[i]; c {
			case ' ', '\t':
				return "a space in the address"
			case '(', ')', '<', '>', '[', ']', ':', ';', '\\', ',', '"':
				if c == '>' && bracket {
					return "no '@' and domain"
				}
				if c == '<' || c == '>' {
					return "a stray '" + string(c) + "' in the path"
				}
				return "a '" + string(c) + "' in the local part (quote the local part)"
			}
		}
		local, s = i, s[i:]
		if local == 0 {
			return "an empty local part"
		}
		if s == "" {
			return "no '@' and domain"
		}
	}
	s = s[1:] // the '@'
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '>' {
		i++
	}
	if i == 0 {
		return "no domain after '@'"
	}
	if s[i-1] == '@' {
		// go-smtp refuses an address that ends in '@' ("a@b@"): its
		// domain is read up to a space or '>', '@' and all.
		return "an '@' ending the address"
	}
	s = s[i:]
	if bracket && !strings.HasPrefix(s, ">") {
		if s == "" {
			return "no '>' ending the path"
		}
		return "'" + string(echoText([]byte{s[0]})) + "' where '>' should end the path"
	}
	return ""
}

// sourceRouteFault says what is wrong with a path's source route (its
// text before the ':', "@a.test,@b.test"), "" when it is RFC 5321's
// A-d-l: At-domain *( "," At-domain ), each At-domain "@" and a domain
// or address literal. go-smtp skips the route whatever it holds; umbra
// ignores it too (RFC 5321 §4.1.1.3, Appendix C) but takes no path whose
// route is no route ("@:alice@example.test"), so that such a path is
// never read in two ways.
func sourceRouteFault(route string) string {
	for _, ad := range strings.Split(route, ",") {
		if !strings.HasPrefix(ad, "@") {
			return "a source route element without '@'"
		}
		d := ad[1:]
		if d == "" {
			return "a source route with no domain after '@'"
		}
		if !validDomainSyntax(strings.TrimSuffix(d, ".")) && !validAddressLiteral(d) {
			return "a source route domain that is no domain name"
		}
	}
	return ""
}

// badPath is the malformed-path reply of a MAIL (rcpt false) or RCPT
// line with its reason.
func badPath(rcpt bool, why string) string {
	r := replyBadSender
	if rcpt {
		r = replyBadRcpt
	}
	return replyLines(&gosmtp.SMTPError{Code: r.Code, EnhancedCode: r.EnhancedCode, Message: r.Message + ": " + why})[0]
}

// replyNoPostmaster refuses RCPT TO:<postmaster> where the server has
// no postmaster (server.postmaster unset and none to derive: README
// "Postmaster"): RFC 5321 §4.5.1 asks for one, and there is nobody to
// give the mail to; the client is told where to write instead.
const replyNoPostmaster = "550 5.1.1 Recipient address rejected: this server has no postmaster; write to postmaster@ the recipient's domain"
