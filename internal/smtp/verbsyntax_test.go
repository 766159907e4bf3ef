package smtp

import (
	"strings"
	"testing"
)

// verbs40 F3 (W-2, W-4, SMTP- syntax): the shadow verbs' parsers, walked
// with malformed arguments over real TCP. Each is refused 501 5.5.4 with
// its verb's one syntax line — the whole form the version offers, the
// same line whatever the fault (XQUERYTAKENDONE answered one line for a
// bad FROM= and another for a bad max) — and a number is decimal digits
// only, at most 10 (XQUERYTAKENDONE's rule; XQUERYDISCARD took "+5"
// and any length). XDISCARD's RCPT= is xtext as RFC 3461 has it (one
// decoder: mailaddr.DecodeXtext): "+ZZ" is refused; "%%%" is xtext
// for itself and names no copy.
func TestW2ShadowVerbsMalformedArgumentsOneSyntaxLine(t *testing.T) {
	const ownDB = "0123456789abcdef0123456789abcdef"
	sh := &keptCopiesShadow{takenOverShadow: newTakenOverShadow(), kept: map[string]bool{}}
	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, verbs40Connector(t))
	open := func(xshadow bool) *dialog {
		t.Helper()
		d := dial(t, s, "127.0.0.128")
		d.expect("220")
		if ehlo := d.cmd("EHLO hub2.test", "250"); !strings.Contains(ehlo, "XSHADOW ") {
			t.Fatalf("XSHADOW not advertised:\n%s", ehlo)
		}
		d.cmd(authHub2, "235")
		if xshadow {
			d.cmd("XSHADOW hub2 MARK DB="+ownDB, "250")
		}
		return d
	}
	syntax := map[string]string{} // verb -> its syntax line
	refuse := func(verb, args string) {
		t.Helper()
		d := open(verb != "XSHADOW") // a session each: the connection's error limit
		got := d.cmd(strings.TrimSpace(verb+" "+args), "501 5.5.4")
		d.cmd("QUIT", "221")
		d.closed()
		if !strings.Contains(got, "Syntax: "+verb) {
			t.Fatalf("%s %q: %q, want the verb's syntax line", verb, args, got)
		}
		if first, ok := syntax[verb]; ok && first != got {
			t.Fatalf("%s %q: %q, but %q for another malformed argument: want one syntax line per verb", verb, args, got, first)
		}
		syntax[verb] = got
	}
	for _, a := range []string{"", "hub2 MARK=x DB=" + ownDB, "hub2 MARK=+5 DB=" + ownDB, "hub2 MARK=18446744073709551616 DB=" + ownDB, "hub2 MARK=000000000000000000001 DB=" + ownDB,
		"hub2 MARK DB=", "hub2 MARK DB=a/b", "hub2 MARK=5", "hub2 MARK MARK", "hub2 DB=" + ownDB, "hub2 MARK DB=" + ownDB + " X"} {
		refuse("XSHADOW", a)
	}
	for _, a := range []string{"", "0", "-1", "+5", "99999999999", "x", "5 WAIT=", "5 WAIT=+3", "5 WAIT=0", "5 WAIT=61", "5 WAIT=x",
		"5 PARTIAL TAKEOVER DELAYED X", "5 TAKEOVER", "5 DELAYED", "5 WAIT=1 WAIT=1"} {
		refuse("XQUERYDISCARD", a)
	}
	for _, a := range []string{"", "a/b", "a-1 a/b", strings.Repeat("a-1 ", maxHeldIDs+1)} {
		refuse("XQUERYKEPT", a)
	}
	for _, a := range []string{"", "0", "-1", "+5", "x", "99999999999", "10 HELD BUSY FROM=", "10 HELD BUSY FROM=a/b",
		"99999999999 HELD BUSY FROM=" + ownDB, "10 BUSY", "10 FROM=" + ownDB, "10 HELD FROM=" + ownDB, "10 HELD BUSY FROM=" + ownDB + " X",
		"10 HELD BUSY DB=" + ownDB, "10 HELD HELD"} {
		refuse("XQUERYTAKENDONE", a)
	}
	for _, a := range []string{"", "a/b", "a-1 RCPT=+ZZ", "a-1 RCPT=", "a-1 RCPT=a=b", "a-1 RCPT=a+2", "a-1 DELAYED x/y", "RCPT=x@y"} {
		refuse("XDISCARD", a)
	}
	d := open(true)
	d.cmd("XDISCARD a-1 RCPT=%%%", "250") // xtext for "%%%"
	d.cmd("XQUERYTAKENDONE 10 HELD BUSY FROM="+ownDB, "250")
	d.cmd("XQUERYDISCARD 5", "250")
	d.cmd("QUIT", "221")
}
