package smtp

import (
	"strings"

	"umbra/internal/mailaddr"

	gosmtp "github.com/emersion/go-smtp"
)

// ORCPT's addr-type is an atom (RFC 3461 §4.2): besides rfc822 and
// utf-8 (RFC 6533), which go-smtp decodes and checks, any other type is
// a client's to use and umbra's to pass on as given (RFC 3461 §4.2: "an
// unknown address type" is still relayed to a DSN-capable next hop).
// go-smtp refuses such a type (501 5.5.4), so the verb layer takes it
// off the RCPT line before go-smtp reads it (takeForeignOrcpt) and the
// session keeps it as the recipient's ORCPT (session.foreignOrcpt): its
// xtext decoded, printable ASCII, at most maxOrcpt characters, as an
// rfc822 one. Delivery writes it again as xtext (appendRcptLine) to a
// next hop that offers DSN; go-smtp's own RCPT (the lock-step path, to a
// hop without PIPELINING) cannot write it, and Client.Rcpt leaves it out
// there rather than fail the recipient.

// ForeignOrcptType reports whether t is an ORCPT address type other
// than rfc822 and utf-8: an RFC 5322 atom of at most 64 characters.
// Delivery passes such an ORCPT on as it came.
func ForeignOrcptType(t string) bool {
	if t == "" || len(t) > 64 || strings.EqualFold(t, string(gosmtp.DSNAddressTypeRFC822)) ||
		strings.EqualFold(t, string(gosmtp.DSNAddressTypeUTF8)) {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !mailaddr.Atext(t[i]) {
			return false
		}
	}
	return true
}

// badForeignOrcpt refuses the ORCPT parameter p of another address
// type whose address is no xtext of printable ASCII, in the words of
// every other malformed parameter value (paramValueReply): the
// parameter as the client wrote it and what was expected — not
// go-smtp's "Malformed ORCPT parameter value", which named neither.
func badForeignOrcpt(p mailParam) string {
	return "501 5.5.4 Syntax error in RCPT TO parameters: " + echoedParam(p.written()) +
		": expected an xtext address of printable ASCII after the address type"
}

// takeForeignOrcpt takes an ORCPT parameter of another address type
// (ForeignOrcptType) off a RCPT line read once (mailLine): it returns the
// ORCPT as umbra stores it ("type;address", the xtext decoded), and a
// reply when its value is malformed. A line without such a parameter is
// left as it is, with "" and "".
func takeForeignOrcpt(ml *mailLine) (orcpt, reply string) {
	for i, p := range ml.params {
		if p.key != "ORCPT" {
			continue
		}
		typ, xt, ok := strings.Cut(p.value, ";")
		if !ok || !ForeignOrcptType(typ) {
			return "", "" // go-smtp's to decode (or refuse)
		}
		addr, ok := mailaddr.DecodeXtext(xt)
		if !ok || addr == "" || !printableASCII(addr) {
			return "", badForeignOrcpt(p)
		}
		if len(addr) > maxOrcpt {
			return "", replyLines(replyLongOrcpt)[0]
		}
		ml.params, ml.changed = append(ml.params[:i:i], ml.params[i+1:]...), true
		return typ + ";" + addr, ""
	}
	return "", ""
}
