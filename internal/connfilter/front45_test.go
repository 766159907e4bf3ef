package connfilter_test

import "testing"

// TestSMTP1HELORefusalNamesTheGreeting (SMTP-1, OPS; rt45-front item 3,
// which failed before the fix: "501 5.5.2 <127.0.0.1>: HELO command
// rejected" to an EHLO): a HELO check's refusal names the command the
// client sent, EHLO or HELO, and a syntax refusal carries the front
// door's enhanced code for a bad greeting argument, 5.5.4 (Invalid EHLO
// argument), never 5.5.2; the front door's own refusal lists the
// underscore it tolerates among a name's characters. The client's
// address is the front45 lane's, 127.0.0.198.
func TestSMTP1HELORefusalNamesTheGreeting(t *testing.T) {
	e := start(t, `    connection_filtering:
      helo:
        syntax: reject
        must_resolve: reject
`)
	s := e.dial("127.0.0.198")
	s.cmd("EHLO 127.0.0.1", "501 5.5.4 <127.0.0.1>: EHLO command rejected: not a host name or address literal")
	s.cmd("HELO 127.0.0.1", "501 5.5.4 <127.0.0.1>: HELO command rejected: not a host name or address literal")
	s.cmd("EHLO nowhere.test", "550 5.7.1 <nowhere.test>: EHLO command rejected: host not found")
	s.cmd("HELO nowhere.test", "550 5.7.1 <nowhere.test>: HELO command rejected: host not found")
	s.cmd("EHLO bad_name..test", "501 5.5.4 Invalid EHLO argument: not a valid domain name (letters, digits, hyphens, underscores, dots)")
	s.cmd("HELO bad_name..test", "501 5.5.4 Invalid HELO argument: not a valid domain name (letters, digits, hyphens, underscores, dots)")
}

// TestSMTP1HELORefusalNamesTheRepeatedGreeting (SMTP-1; rdfront45): a
// later greeting of a session, judged by the verb layer before go-smtp
// takes it (checkGreetingAgain), is named as sent too. The verb was read
// from the layer's last command, which for a later greeting is still the
// one before it: a HELO after an EHLO was refused as "EHLO command
// rejected", an EHLO after a HELO and a RSET as "HELO command rejected".
func TestSMTP1HELORefusalNamesTheRepeatedGreeting(t *testing.T) {
	e := startOn(t, "127.0.0.196:18561", `    connection_filtering:
      helo:
        syntax: reject
        must_resolve: reject
`, "exists.test. 60 IN A 192.0.2.9")
	s := e.dial("127.0.0.196")
	s.cmd("EHLO exists.test", "250")
	s.cmd("HELO 127.0.0.1", "501 5.5.4 <127.0.0.1>: HELO command rejected: not a host name or address literal")
	s.cmd("HELO nowhere.test", "550 5.7.1 <nowhere.test>: HELO command rejected: host not found")
	s.cmd("HELO exists.test", "250")
	s.cmd("RSET", "250")
	s.cmd("EHLO 127.0.0.1", "501 5.5.4 <127.0.0.1>: EHLO command rejected: not a host name or address literal")
	s.cmd("NOOP", "250")
	s.cmd("EHLO nowhere.test", "550 5.7.1 <nowhere.test>: EHLO command rejected: host not found")
}
