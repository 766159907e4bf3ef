package smtp

import (
	"strings"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// RcptOptionsOf is recipient r's DSN parameters (RFC 3461) for RCPT TO,
// as it was received: its NOTIFY, and its ORCPT of type rfc822, utf-8
// (its form on the wire: Client.Rcpt) or another (ForeignOrcptType).
// Delivery sends them to the next hop, and a shadow copy to its peer
// (PushCopy), whose takeover would answer the sender otherwise: a DSN to
// a NOTIFY=NEVER sender, none to a NOTIFY=SUCCESS one, no
// Original-Recipient.
func RcptOptionsOf(r *queue.Recipient) *gosmtp.RcptOptions {
	ro := &gosmtp.RcptOptions{}
	if r.Notify != 0 {
		for _, n := range notifyOrder { // already in sorted order: no map, no sort per recipient
			if r.Notify&n.bit != 0 {
				ro.Notify = append(ro.Notify, n.dsn)
			}
		}
	}
	// ORCPT goes on as it came: rfc822 (one that is not printable
	// ASCII, as a release before rr27 stored for the members of a
	// non-ASCII group, as utf-8: Client.Rcpt), utf-8 (RFC 6533 §3: raw
	// utf-8-addr-unitext only in an SMTPUTF8 transaction, else
	// utf-8-addr-xtext, whatever the hop offers: Client.Rcpt), or
	// any other address type, as xtext (ForeignOrcptType).
	if typ, addr, ok := strings.Cut(r.ORcpt, ";"); ok && strings.EqualFold(typ, "rfc822") {
		ro.OriginalRecipientType, ro.OriginalRecipient = gosmtp.DSNAddressTypeRFC822, addr
	} else if ok && strings.EqualFold(typ, "utf-8") && utf8.ValidString(addr) {
		ro.OriginalRecipientType, ro.OriginalRecipient = gosmtp.DSNAddressTypeUTF8, addr
	} else if ok && ForeignOrcptType(typ) {
		// Another address type, passed on as given (RFC 3461 §4.2).
		ro.OriginalRecipientType, ro.OriginalRecipient = gosmtp.DSNAddressType(typ), addr
	}
	return ro
}

// notifyOrder maps NOTIFY bits to go-smtp's values in their sorted
// order (DELAY, FAILURE, NEVER, SUCCESS: TestNotifyOrderSorted), as
// each recipient's list read when it was sorted.
var notifyOrder = []struct {
	bit queue.Notify
	dsn gosmtp.DSNNotify
}{
	{queue.NotifyDelay, gosmtp.DSNNotifyDelayed},
	{queue.NotifyFailure, gosmtp.DSNNotifyFailure},
	{queue.NotifyNever, gosmtp.DSNNotifyNever},
	{queue.NotifySuccess, gosmtp.DSNNotifySuccess},
}
