package smtp

import (
	"regexp"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// enhancedLine is a reply line with an enhanced status code of its
// reply code's class (RFC 2034 §4, RFC 3463).
var enhancedLine = regexp.MustCompile(`^([245])[0-9][0-9][ -]([245])\.[0-9]{1,3}\.[0-9]{1,3}( |$)`)

// rt20a F4, W-2..W-4, SMTP replies: every error reply of every shadow
// verb — not offered on the connector, not permitted, out of order,
// malformed, in a mail transaction — carries an enhanced status code of
// its class, as ENHANCEDSTATUSCODES promises (RFC 2034 §3). The verbs
// and their refusals are listed here, one session state at a time, so
// that a refusal added without a code fails.
func TestShadowVerbErrorRepliesHaveEnhancedCodes(t *testing.T) {
	sh := &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}}, notes: map[string][]queue.TakenDone{}}
	// Every shadow verb with well-formed arguments: refused for the
	// session's state alone.
	wellFormed := []string{"XSHADOW hub2", "XQUERYDISCARD 5", "XQDISCARD 5", "XQUERYHELD a-1", "XQUERYDROPPED 5",
		"XQUERYTAKENDONE 5", "XQUERYTAKENDONE 5 HELD", "XDISCARD a-1"}
	// Malformed arguments, in an open shadow session.
	malformed := []string{"XSHADOW", "XSHADOW hub2 MARK=x", "XSHADOW hub2 MARK=1 DB=", "XSHADOW hub2 BOGUS", "XSHADOW " + strings.Repeat("h", 300),
		"XQUERYDISCARD", "XQUERYDISCARD 0", "XQUERYDISCARD -1", "XQUERYDISCARD x", "XQDISCARD +2",
		"XQUERYHELD", "XQUERYHELD not/an/id", "XQUERYHELD " + strings.Repeat("a-1 ", 101),
		"XQUERYDROPPED", "XQUERYDROPPED 0", "XQUERYDROPPED x",
		"XQUERYTAKENDONE", "XQUERYTAKENDONE 0", "XQUERYTAKENDONE +2", "XQUERYTAKENDONE 5 BOGUS",
		"XDISCARD", "XDISCARD not/an/id"}
	var seen int
	check := func(d *dialog, line string) {
		t.Helper()
		d.send(line + "\r\n")
		got := d.reply()
		for _, l := range strings.Split(got, "\n") {
			if l[0] == '2' {
				continue // not refused in this state: not this test's
			}
			m := enhancedLine.FindStringSubmatch(l)
			if m == nil || m[1] != m[2] {
				t.Errorf("%q answered %q: no enhanced status code of its class", line, l)
			}
			seen++
		}
	}

	// Each state is set up in a session of its own for every few
	// commands: the error limit (max_errors) ends a session that
	// collects many refusals.
	run := func(srv *Server, setup func(d *dialog), lines []string) {
		t.Helper()
		for len(lines) > 0 {
			n := min(len(lines), 4)
			d := dial(t, srv, "")
			d.expect("220")
			setup(d)
			for _, l := range lines[:n] {
				check(d, l)
			}
			d.cmd("QUIT", "221")
			d.closed()
			lines = lines[n:]
		}
	}
	none := func(*dialog) {}
	ehlo := func(d *dialog) { d.cmd("EHLO hub2.test", "250") }
	auth := func(d *dialog) { ehlo(d); d.cmd(authHub2, "235") }
	shadow := func(d *dialog) { auth(d); d.cmd("XSHADOW hub2", "250") }
	inMail := func(d *dialog) { auth(d); d.cmd("MAIL FROM:<a@example.org>", "250") }

	// A connector that does not offer the shadow verbs.
	plain := startShadowServer(t, &markQueue{mark: 1}, sh, true, connectors(t, `
  - name: client
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`))
	run(plain, none, wellFormed) // before EHLO
	run(plain, ehlo, append(wellFormed, malformed...))

	s := startShadowServer(t, &markQueue{mark: 1}, sh, true, transportConnector(t, ""))
	run(s, none, wellFormed)               // before EHLO
	run(s, ehlo, wellFormed)               // not logged in: not a transport server
	run(s, auth, wellFormed[1:])           // no shadow session yet
	run(s, auth, []string{"XSHADOW hub3"}) // another server's id than the account's
	run(s, inMail, []string{"XSHADOW hub2"})
	run(s, shadow, malformed)
	if seen < 60 {
		t.Fatalf("only %d refusals seen: the states above no longer refuse", seen)
	}
}
