package smtp

import (
	"unicode"
	"unicode/utf8"

	"umbra/internal/mailaddr"

	gosmtp "github.com/emersion/go-smtp"
)

// The RCPT TO lines of a pipelined transaction (pipeline.go) are formatted
// here for the common cases instead of by go-smtp's Client.Rcpt, which for
// every recipient grows a 2 KiB builder, formats with fmt, sets and clears
// the connection deadline and parses the capture's fake 250 — the largest
// allocation and a good part of the CPU a recipient costs on the way out.
// The line is byte for byte the one go-smtp (v0.25) writes — but for an
// ORCPT of another address type than rfc822 and utf-8, which go-smtp
// refuses to write and this formatter writes as an rfc822 one, its type
// as given (orcpt.go) —: a differential
// fuzz test (rcptline_test.go) holds the two together. Whatever this
// formatter does not cover — a refusal go-smtp would give (CR or LF in the
// address, a malformed NOTIFY set, a non-printable ORCPT), a UTF-8 ORCPT
// (whose form Client.Rcpt chooses by the transaction, not go-smtp by the
// hop's EHLO), RRVS, DELIVERBY, MT-PRIORITY, a line past go-smtp's write
// buffer — goes through Client.Rcpt as before.

// rcptWriteBuffer is go-smtp's (textproto's bufio) write buffer: a longer
// command line reaches the connection in more than one write, which the
// capture treats differently, so such a line is left to go-smtp.
const rcptWriteBuffer = 4096

// appendRcptLine appends the RCPT TO command line for to (with its CRLF)
// to dst as go-smtp's Client.Rcpt writes it, dsn telling whether the
// server advertised DSN. ok is false when the line is go-smtp's to make
// (dst is then returned unchanged).
func appendRcptLine(dst []byte, to string, opts *gosmtp.RcptOptions, dsn bool) (_ []byte, ok bool) {
	if opts != nil && (!opts.RequireRecipientValidSince.IsZero() || opts.DeliverBy != nil || opts.MTPriority != nil) {
		return dst, false
	}
	for i := 0; i < len(to); i++ {
		if to[i] == '\r' || to[i] == '\n' {
			return dst, false
		}
	}
	start := len(dst)
	dst = append(dst, "RCPT TO:<"...)
	dst = append(dst, to...)
	dst = append(dst, '>')
	if dsn && opts != nil {
		if len(opts.Notify) != 0 {
			if !validNotifySet(opts.Notify) {
				return dst[:start], false
			}
			dst = append(dst, " NOTIFY="...)
			for i, v := range opts.Notify {
				if i != 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, v...)
			}
		}
		if opts.OriginalRecipient != "" {
			typ := opts.OriginalRecipientType
			if typ != gosmtp.DSNAddressTypeRFC822 && !ForeignOrcptType(string(typ)) || !printableASCII(opts.OriginalRecipient) {
				return dst[:start], false
			}
			dst = append(dst, " ORCPT="...)
			dst = append(dst, opts.OriginalRecipientType...)
			dst = append(dst, ';')
			dst = mailaddr.AppendXtext(dst, opts.OriginalRecipient)
		}
	}
	dst = append(dst, '\r', '\n')
	if len(dst)-start > rcptWriteBuffer {
		return dst[:start], false
	}
	return dst, true
}

// validNotifySet is go-smtp's rule for a NOTIFY set: not empty, known
// values, none twice, NEVER alone.
func validNotifySet(values []gosmtp.DSNNotify) bool {
	var seen [4]bool
	n := 0
	for _, v := range values {
		k := -1
		switch v {
		case gosmtp.DSNNotifyNever:
			k = 0
		case gosmtp.DSNNotifyDelayed:
			k = 1
		case gosmtp.DSNNotifyFailure:
			k = 2
		case gosmtp.DSNNotifySuccess:
			k = 3
		}
		if k < 0 || seen[k] {
			return false
		}
		seen[k] = true
		n++
	}
	return n > 0 && !(seen[0] && n > 1)
}

// printableASCII: every byte from space to tilde.
// replyBadOrcpt refuses an ORCPT holding a character that is not
// printable: go-smtp refuses the C0 controls in a utf-8 ORCPT, but not
// DEL, C1 controls, bidirectional overrides or zero-width characters,
// which would go on into the record, the DSN and the next hop's RCPT.
var replyBadOrcpt = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "Malformed ORCPT: a character that is not printable"}

// maxOrcpt is the longest original recipient RFC 3461 §4.2 allows, in
// characters before xtext encoding: the DSN's Original-Recipient field
// is made from it.
const maxOrcpt = 500

// replyLongOrcpt refuses an ORCPT over maxOrcpt.
var replyLongOrcpt = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 4}, Message: "Malformed ORCPT: longer than 500 characters"}

// printableText reports whether s is valid UTF-8 of printable
// characters only (space included).
func printableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
