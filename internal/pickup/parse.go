package pickup

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"umbra/internal/header"
	"umbra/internal/mailaddr"
	"umbra/internal/smtp"
)

// Envelope is what a pickup file says about sender and recipients.
type Envelope struct {
	From  string
	Rcpts []string
}

// Parse reads a pickup file: it returns the envelope and the message as it
// is to be sent (CRLF line ends, envelope headers and Bcc removed).
// key is the comparison key of a recipient (smtp.Server.RcptKey: the
// local part in ASCII case for a domain this organisation is
// authoritative for, exact elsewhere); nil: mailaddr.RcptKey with no
// domain authoritative.
func Parse(data []byte, key func(addr string) string) (Envelope, []byte, error) {
	msg := crlf(data)
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		// Header fields alone, no empty line, no body: the whole file
		// is the header section, and the empty line is put after it,
		// as the receive side puts it (its last line's CRLF first);
		// a line in it that is no field is refused below as anywhere
		// in a header section (TestPickupHeaderOnlyFileGetsEmptyLine).
		msg = msg[:len(msg):len(msg)]
		if len(msg) > 0 && !bytes.HasSuffix(msg, []byte("\r\n")) {
			msg = append(msg, '\r', '\n')
		}
		msg = append(msg, '\r', '\n')
		end = len(msg) - 4
		if end < 0 {
			return Envelope{}, nil, errors.New("an empty file")
		}
	}
	head, body := msg[:end+2], msg[end+2:]
	var env Envelope
	var kept bytes.Buffer
	var xsender string
	drop := false
	for i, line := range splitLines(head) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if i == 0 {
				return Envelope{}, nil, fmt.Errorf("malformed header line %q (continues no field)", trunc(line))
			}
			if !drop {
				kept.WriteString(line + "\r\n")
			}
			continue
		}
		// A field as the receive side reads one (header.FieldStart): a
		// line it would take for the body's first ("From " of mbox, a
		// name with a space or a byte outside ASCII) is refused, so that
		// this server and every next hop see one header section.
		if kind, _ := header.FieldStart([]byte(line)); kind != header.Field {
			return Envelope{}, nil, fmt.Errorf("malformed header line %q", trunc(line))
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		drop = false
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "x-sender":
			if xsender == "" {
				xsender = value
			}
			drop = true
		case "x-receiver":
			env.Rcpts = append(env.Rcpts, strings.Trim(value, "<> "))
			drop = true
		case "bcc":
			drop = true
		}
		if !drop {
			kept.WriteString(line + "\r\n")
		}
	}
	// Continuation lines were appended to the header they follow; parse
	// address headers from the unfolded section.
	unfolded := unfold(head)
	// The sender as MAIL stores it: a source route dropped, a quoted
	// local part by its content, one that shows an address (a@b) or any
	// other MAIL would refuse refused here — never queued as written,
	// where its text would name another mailbox than the header's.
	if xsender != "" {
		if p := strings.Trim(xsender, "<> "); p != "" {
			a, postmaster, err := smtp.ParseRcptPath(p)
			if err != nil {
				return Envelope{}, nil, fmt.Errorf("X-Sender %q refused as MAIL would refuse it: %v", trunc(p), err)
			}
			env.From = p
			if !postmaster {
				env.From = a.String()
			}
		}
	} else if f := headerOf(unfolded, "from"); f != "" {
		a, err := mail.ParseAddress(f)
		if err != nil {
			return Envelope{}, nil, fmt.Errorf("From: %v", err)
		}
		q, err := smtp.ParseContentAddress(a.Address)
		if err != nil {
			return Envelope{}, nil, fmt.Errorf("From: %q refused as MAIL would refuse it: %v", trunc(a.Address), err)
		}
		env.From = q.String()
	}
	if len(env.Rcpts) == 0 {
		for _, h := range []string{"to", "cc", "bcc"} {
			for _, v := range headersOf(unfolded, h) {
				list, err := mail.ParseAddressList(v)
				if err != nil {
					return Envelope{}, nil, fmt.Errorf("%s: %v", h, err)
				}
				for _, a := range list {
					env.Rcpts = append(env.Rcpts, headerAddress(a.Address))
				}
			}
		}
	}
	if len(env.Rcpts) == 0 {
		return Envelope{}, nil, errors.New("no recipients (X-Receiver, To, Cc or Bcc)")
	}
	for _, r := range append([]string{env.From}, env.Rcpts...) {
		if r == "" {
			continue
		}
		if _, err := smtp.ParseAddress(r); err == nil {
			continue // a quoted local part ("an na"@…) as RCPT takes it
		}
		if !strings.Contains(r, "@") || strings.ContainsAny(r, " \t\r\n<>") {
			return Envelope{}, nil, fmt.Errorf("bad address %q", trunc(r))
		}
	}
	// A recipient RCPT would refuse by its address (IP-address text for
	// a domain, an address literal, bad syntax) is refused here too, with
	// RCPT's reply as the reason, not queued to fail later with a DSN.
	for i, r := range env.Rcpts {
		if e := smtp.RecipientRefusal(r); e != nil {
			return Envelope{}, nil, fmt.Errorf("recipient %q refused as RCPT would refuse it: %d %d.%d.%d %s",
				trunc(r), e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
		}
		// the address as RCPT stores it (a source route dropped,
		// a quoted local part by its content, quoted again only when
		// it needs the quotes), not as written.
		if a, postmaster, err := smtp.ParseRcptPath(r); err == nil && !postmaster {
			env.Rcpts[i] = a.String()
		}
	}
	// Queued in the one canonical form RCPT stores (mailaddr.Canonical:
	// no final dot, the domain's ASCII case folded), so that recipient
	// validation, the Maildir path and the relayed RCPT see the address
	// RCPT would have stored (rt16d F1).
	env.From = mailaddr.Canonical(env.From)
	for i, r := range env.Rcpts {
		env.Rcpts[i] = mailaddr.Canonical(r)
	}
	// A recipient named twice (X-Receiver repeated, To: and Cc:) is one,
	// compared as RCPT compares (mailaddr.RcptKey: a final dot, either
	// form of an internationalised domain, and the local part's ASCII
	// case for an authoritative domain only — elsewhere only the
	// destination interprets it, rt17b-F2); the first spelling is kept.
	if key == nil {
		key = func(a string) string { return mailaddr.RcptKey(strings.TrimSuffix(a, "."), false) }
	}
	seen := make(map[string]bool, len(env.Rcpts))
	rcpts := env.Rcpts[:0]
	for _, r := range env.Rcpts {
		if k := key(r); !seen[k] {
			seen[k] = true
			rcpts = append(rcpts, r)
		}
	}
	env.Rcpts = rcpts
	return env, append(kept.Bytes(), body...), nil
}

// crlf turns bare LF and bare CR into CRLF: umbra queues no bare line
// ends (a next hop might end DATA at one).
func crlf(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/40)
	for i, c := range b {
		switch {
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			out.WriteByte('\r')
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			out.WriteString("\r\n")
			continue
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

func splitLines(head []byte) []string {
	s := strings.TrimSuffix(string(head), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

// unfold joins continuation lines to the header they belong to.
func unfold(head []byte) []string {
	var out []string
	for _, l := range splitLines(head) {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += " " + strings.TrimSpace(l)
			continue
		}
		out = append(out, l)
	}
	return out
}

func headersOf(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func headerOf(lines []string, name string) string {
	if v := headersOf(lines, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// headerAddress is an address net/mail read out of a header (its local
// part by its content, the quotes gone: "an na"@x is an na@x) written as
// RCPT writes it, the local part quoted again where it needs the quotes;
// as read when it is no address (refused later, by its text).
func headerAddress(a string) string {
	if q, err := smtp.ParseContentAddress(a); err == nil {
		return q.String()
	}
	return a
}
