package smtp

import "testing"

// RFC 5321 §4.1.2 paths that umbra's own path check must pass on to the
// address checks (front47 F2): quoted local parts with spaces, commas,
// "@" or escapes, source routes, <postmaster>, <>, address literals and
// SMTPUTF8 addresses.
func TestPathFaultPassesWhatRFC5321Allows(t *testing.T) {
	for _, tc := range []struct {
		line string
		rcpt bool
	}{
		{"MAIL FROM:<>", false},
		{"MAIL FROM:<> SIZE=10", false},
		{"RCPT TO:<postmaster>", true},
		{"RCPT TO:<PostMaster>", true},
		{"RCPT TO:<postmaster@example.test>", true},
		{"RCPT TO:<@a.example,@b.example:user@c.example>", true},
		{"MAIL FROM:<@a.example:user@c.example>", false},
		{`RCPT TO:<"john doe"@example.test>`, true},
		{`RCPT TO:<"a,b"@example.test>`, true},
		{`RCPT TO:<"a@b"@example.test>`, true},
		{`RCPT TO:<"a\"b"@example.test>`, true},
		{`RCPT TO:<"a\\"@example.test>`, true},
		{`RCPT TO:<"a>b<c"@example.test>`, true},
		{"RCPT TO:<\"tab\there\"@example.test>", true},
		{"RCPT TO:<user@[192.0.2.1]>", true},
		{"RCPT TO:<user@[IPv6:2001:db8::1]>", true},
		{"RCPT TO:<!#$%&'*+-/=?^_`{|}~@example.test>", true},
		{"RCPT TO:<first.last@example.test> NOTIFY=NEVER", true},
		{"RCPT TO:<jöran@bücher.example>", true},
		{`RCPT TO:<"jö ran"@bücher.example>`, true},
		{"MAIL FROM:<user@example.test> BODY=8BITMIME", false},
		{"RCPT TO: <user@example.test>", true},
		{"RCPT TO:<user@example.test>\r\n", true},
	} {
		ml := parseMailLine([]byte(tc.line))
		if why := ml.pathFault(tc.rcpt); why != "" {
			t.Errorf("%q refused: %s", tc.line, why)
		}
	}
}

// A path whose quoted local part is never closed has its '>' inside the
// quotes: the reply names the open quote, not a missing '>' the client
// can see it wrote.
func TestPathFaultNamesAnUnterminatedQuote(t *testing.T) {
	for _, line := range []string{`RCPT TO:<"alice@example.test>`, `MAIL FROM:<"al\"ice@example.test> SIZE=5`} {
		ml := parseMailLine([]byte(line))
		if why := ml.pathFault(true); why != "an unterminated quoted local part" {
			t.Errorf("%q: %q, want the unterminated quoted local part named", line, why)
		}
	}
	ml := parseMailLine([]byte("RCPT TO:<alice@example.test"))
	if why := ml.pathFault(true); why != "no '>' ending the path" {
		t.Errorf("no '>': %q", why)
	}
}
