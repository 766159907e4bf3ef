package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/jsonsafe"
	"umbra/internal/mailaddr"
	"umbra/internal/recipients"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// rcptCheck is what RCPT would answer a recipient, as route explain
// shows it (offline: a callout is not made, and says so).
type rcptCheck struct {
	// Address and RCPT are in the text form already (checkAddresses
	// writes each value by jsonsafe.TextBytes): the daemon's answer
	// (GET /v1/rcptcheck, writeJSON) passes them as they are (text:"as-is"),
	// not escaped a second time.
	Address string `json:"address" text:"as-is"` // as RCPT takes it, by the one rule (jsonsafe.TextBytes)
	// RCPT: "250 …" accepted, "550 5.1.1 …" refused as unknown, "451 …"
	// not decidable now, or "callout: …" decided by the next hop at RCPT.
	RCPT string `json:"rcpt" text:"as-is"`
	// SMTPUTF8: for an address with a non-ASCII character, explained as
	// from a client that said SMTPUTF8, what one that did not gets.
	SMTPUTF8 string `json:"smtputf8,omitempty"`
	// Refused: RCPT refuses the address by its address alone (RCPT is
	// its reply): it has no route, and route explain exits 64.
	Refused bool `json:"refused,omitempty"`
}

// rcptAddress is a recipient as RCPT TO takes it (smtp.ParseRcptPath):
// a source route ignored, a quoted local part taken by its content, bare
// postmaster (any ASCII case) as server.postmaster, the address parsed
// as the receive side parses it (a trailing dot dropped, the domain
// folded). smtputf8 is whether the client said SMTPUTF8 at MAIL: without
// it, an address with a non-ASCII character is refused as RCPT refuses
// it (smtp.UTF8Refusal: 553 5.6.7).
func rcptAddress(cfg *config.Config, rcpt string, smtputf8 bool) (string, error) {
	needUTF8 := func(r *gosmtp.SMTPError) error {
		return rcptRefused{reply: fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message),
			err: shownErr(jsonsafe.Textf("\"%s\" is not an address RCPT accepts from a client that did not say SMTPUTF8 (%d %d.%d.%d): %s",
				jsonsafe.TextBytes(rcpt), r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message))}
	}
	// Non-ASCII needs SMTPUTF8 first, as RCPT says (front47 F2): before
	// the parse judges its labels.
	if r := smtp.RawUTF8Refusal(rcpt, smtputf8); r != nil {
		return "", needUTF8(r)
	}
	a, postmaster, err := smtp.ParseRcptPath(rcpt)
	switch {
	case err != nil:
		// Named by the one escape rule (shownErr, then the terminal
		// writer), not Go's %q: \x1b would read as a byte that is not UTF-8.
		// The code is RCPT's own (smtp.RcptRefusal): 553 5.1.3 for an
		// invalid internationalised domain, 501 5.1.3 for bad syntax.
		r := smtp.RcptRefusal(err)
		code := fmt.Sprintf("%d %d.%d.%d", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])
		reply := code + " " + r.Message
		if r.Code == 501 {
			code += "; local-part@domain"
		}
		// The address by the one rule in a text kept as it is (Textf):
		// between quotes written raw, the text \xe9 was taken for Go's
		// %q of the byte (quotedAsIs) and shown as it (rr33).
		return "", rcptRefused{reply: reply, err: shownErr(jsonsafe.Textf("\"%s\" is not an address RCPT accepts (%s): %s", jsonsafe.TextBytes(rcpt), code, jsonsafe.TextBytes(err.Error())))}
	case postmaster && cfg.Server.Postmaster == "":
		return "", shownErr(jsonsafe.Textf("\"%s\": RCPT TO:<postmaster> is refused: this server has no postmaster (server.postmaster is not set, and no authoritative or internal_relay domain gives a default)", jsonsafe.TextBytes(rcpt)))
	case postmaster:
		if p, err := smtp.ParseAddress(cfg.Server.Postmaster); err == nil {
			a = p
		}
	}
	if r := smtp.UTF8Refusal(a, smtputf8); r != nil {
		return "", needUTF8(r)
	}
	if postmaster {
		return cfg.Server.Postmaster, nil
	}
	// An address literal and a domain that is IP-address text: RCPT
	// refuses them by the address alone (smtp.RecipientRefusal, its own
	// replies), whatever the connector grants — no route is explained
	// for them. postmaster@[the address the client connected to] is the
	// one literal RCPT takes; offline there is no connection, so it is
	// refused here as RCPT refuses it at any other address, and says so.
	if r := smtp.RecipientRefusal(a.String()); r != nil {
		reply := fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
		why := "its domain is no domain name"
		if a.Literal() {
			why = "an address literal"
			if mailaddr.IsPostmaster(a.Local) {
				reply += " (postmaster@[the address the client connected to] is this server's postmaster, RFC 5321 §4.5.1)"
			}
		}
		return "", rcptRefused{reply: reply, err: shownErr(jsonsafe.Textf("\"%s\" is not an address RCPT accepts (%d %d.%d.%d): %s",
			jsonsafe.TextBytes(rcpt), r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], why))}
	}
	return a.String(), nil
}

// rcptRefused is an address RCPT refuses by the address alone (its
// syntax, an address literal, IP-address text, a port, an invalid
// internationalised domain, a non-ASCII address without SMTPUTF8), with
// RCPT's reply: route explain gives it as the address's only line — no
// route — explains the other addresses (rt18c-F6) and exits 64.
type rcptRefused struct {
	reply string // "550 5.1.2 Recipient address rejected: …"
	err   error
}

func (e rcptRefused) Error() string { return e.err.Error() }
func (e rcptRefused) Unwrap() error { return e.err }

// checkRecipients answers each address as checkAddresses does, with
// the validator of cfg as its files read now — the recipients file, the
// LDAP directory its password and CA files reach —: route explain with
// no daemon answering. A daemon that answers checks them itself, with
// the lists and the directory it loaded (GET /v1/rcptcheck:
// daemonRecipientCheck).
func checkRecipients(ctx context.Context, cfg *config.Config, table *routing.Table, addrs []string) ([]rcptCheck, error) {
	dir, err := newDirectory(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	if dir != nil {
		defer dir.Close()
	}
	v, err := recipientValidator(cfg, nil, ldapRecipients(dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	return checkAddresses(ctx, v, table, addrs), nil
}

// checkAddresses answers each address as the receive side's recipient
// check does (internal/smtp validateRcpt): postmaster and addresses of
// domains not accepted here are not checked (relaying is the
// connector's right), an accepted domain is checked by its
// recipient_validation — the directory lists, the recipients file and
// LDAP as v holds them; a callout domain's addresses the lists do not
// know are decided by the next hop at RCPT, not asked here (v has no
// callout).
func checkAddresses(ctx context.Context, v *recipients.Validator, table *routing.Table, addrs []string) []rcptCheck {
	out := []rcptCheck{}
	for _, addr := range addrs {
		local, domain := addr[:strings.LastIndexByte(addr, '@')], addr[strings.LastIndexByte(addr, '@')+1:]
		c := rcptCheck{Address: jsonsafe.TextBytes(addr), RCPT: "250 2.1.5 accepted"} // as every answer names a value (route.go)
		if a, err := smtp.ParseAddress(addr); err == nil {
			if r := smtp.UTF8Refusal(a, false); r != nil {
				c.SMTPUTF8 = fmt.Sprintf("needs SMTPUTF8: a client that does not say it gets %d %d.%d.%d %s (route explain --smtputf8=false)",
					r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
			}
		}
		// (An address literal or IP-address text never comes here:
		// rcptAddress refused it, as RCPT does, with no route.)
		switch {
		case mailaddr.IsPostmaster(local):
			c.RCPT += " (postmaster is always accepted)"
		case table.Accepted(domain) == routing.NotAccepted:
			c.RCPT += " if the connector grants relay (not an accepted domain: not validated)"
		case v.ModeOf(domain) == recipients.Off:
			c.RCPT += " (recipient_validation: off)"
		default:
			verdict, err := v.Check(ctx, addr)
			switch {
			case verdict == recipients.Known:
				c.RCPT += " (known to the directory)"
			case verdict == recipients.Unknown:
				c.RCPT = "550 5.1.1 Recipient address rejected: user unknown (refused at RCPT: no directory source knows it)"
			case v.ModeOf(domain) == recipients.ModeCallout:
				c.RCPT = "callout: the next hop is asked at RCPT (not asked here); its 5.1.x refusal refuses with 550 5.1.1, another 5xx or a 4xx is passed on (code and enhanced code)"
			case errors.Is(err, recipients.ErrInternal):
				// umbra's own defect (a lookup that panicked), which RCPT
				// says as this server's fault, never the directory's
				// (internal/smtp validateRcpt).
				c.RCPT = fmt.Sprintf("451 4.3.0 internal error of this server: cannot be verified now (%s)", jsonsafe.TextBytes(err.Error()))
			case errors.Is(err, recipients.ErrDirectoryFailure):
				c.RCPT = fmt.Sprintf("451 4.4.3 directory server failure: cannot be verified now (%s)", jsonsafe.TextBytes(err.Error()))
			default:
				c.RCPT = fmt.Sprintf("451 4.3.0 cannot be verified now (%s)", jsonsafe.TextBytes(err.Error()))
			}
		}
		out = append(out, c)
	}
	return out
}
