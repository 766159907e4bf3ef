package smtp

import (
	"strings"
	"testing"
)

// Delivered-To read as RCPT reads a path (FieldAddressKeys,
// HasFieldAddress), moved here from package header with the parse.

// A quoted local part whose content is a dot-string is the same mailbox
// (README: taken by its content), so a Delivered-To written with one
// names the recipient as much as the plain form (rt28).
func TestHasFieldAddressQuotedLocalPart(t *testing.T) {
	for _, v := range []string{`"alice"@example.test`, `<"alice"@Example.test>`, `"al\ice"@example.test`, `"john.doe"@example.test`} {
		m := []byte("Delivered-To: " + v + "\r\n\r\nbody\r\n")
		want := "alice@example.test"
		if strings.Contains(v, "john") {
			want = "john.doe@example.test"
		}
		if !HasFieldAddress(m, "Delivered-To", want) {
			t.Errorf("%s does not name %s", v, want)
		}
	}
	if HasFieldAddress([]byte("Delivered-To: \"a b\"@example.test\r\n\r\n"), "Delivered-To", "ab@example.test") {
		t.Error(`"a b" names ab`)
	}
	// A local part that needs its quotes is a recipient RCPT keeps
	// quoted ("an na"@…, rt29b F3): a Delivered-To naming it, quoted-pairs
	// written as they may be, names that recipient.
	for v, rcpt := range map[string]string{
		`"an na"@example.test`:     `"an na"@example.test`,
		`<"a \"b\""@example.test>`: `"a \"b\""@example.test`,
		`"a\ b"@example.test`:      `"a b"@example.test`,
	} {
		if !HasFieldAddress([]byte("Delivered-To: "+v+"\r\n\r\n"), "Delivered-To", rcpt) {
			t.Errorf("%s does not name %s", v, rcpt)
		}
	}
}

// rt31 F3: a Delivered-To with a comment or the domain's trailing dot
// names the recipient as RCPT takes it (alice@example.test. is alice), so
// the loop check sees it; a comment never makes another address match.
func TestHasFieldAddressCommentAndTrailingDot(t *testing.T) {
	for _, v := range []string{"alice@example.test.", "alice@example.test (comment)", "(c) <alice@example.test> (x (nested))",
		"<alice@Example.Test.>", "alice@example.test.(c)"} {
		m := []byte("Delivered-To: " + v + "\r\n\r\nbody\r\n")
		if !HasFieldAddress(m, "Delivered-To", "alice@example.test") {
			t.Errorf("%q does not name alice@example.test", v)
		}
		if !HasFieldAddress(m, "Delivered-To", "alice@example.test.") {
			t.Errorf("%q does not name alice@example.test.", v)
		}
	}
	for _, v := range []string{"alice@example.test.x", "alice@example.test..", "(alice@example.test) bob@example.test", `"alice@example.test (c)"@x.test`} {
		if HasFieldAddress([]byte("Delivered-To: "+v+"\r\n\r\n"), "Delivered-To", "alice@example.test") {
			t.Errorf("%q names alice@example.test", v)
		}
	}
}

// A Delivered-To written with an internationalised domain in one form
// names the recipient in the other (mailaddr.AddrKey): final delivery
// writes the domain as the recipient gave it, and the copy that comes
// back addressed in the other form is the same mail loop. A lookalike
// (KELVIN SIGN) is not the ASCII address.
func TestHasFieldAddressIDNForms(t *testing.T) {
	for v, rcpt := range map[string]string{
		"anna@bücher.example":           "anna@xn--bcher-kva.example",
		"<anna@XN--BCHER-KVA.example.>": "anna@Bücher.example",
	} {
		if !HasFieldAddress([]byte("Delivered-To: "+v+"\r\n\r\n"), "Delivered-To", rcpt) {
			t.Errorf("%q does not name %s", v, rcpt)
		}
	}
	if HasFieldAddress([]byte("Delivered-To: kim@\u212Aiosk.test\r\n\r\n"), "Delivered-To", "kim@kiosk.test") {
		t.Error("a lookalike names the ASCII address")
	}
}
