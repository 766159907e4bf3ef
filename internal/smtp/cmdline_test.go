package smtp

import (
	"strings"
	"testing"
	"time"
)

// Each command line is read once (readCommandLine) for the metric's
// label and the dispatch: the lines where trimming, the verb and the
// argument could be read differently keep their replies and labels
// (SMTP-1; RFC 5321 §4.1.1 trailing blanks, RFC 3030 BDAT's strict
// syntax, RFC 3207 STARTTLS without an argument).
func TestCommandLineReadOnce(t *testing.T) {
	obs := &commandObserver{got: map[string]int{}}
	s := startWith(t, ServerConfig{Observer: obs, Connectors: connectors(t, anon)})
	d := dial(t, s, "")
	d.expect("220")
	for _, c := range []struct{ line, want string }{
		{"EHLO", "501 5.5.2 Domain/address argument required for EHLO"},
		{"ehlo \t", "501 5.5.2 Domain/address argument required for EHLO"},
		{"EHLO c.test\t ", "250"},
		{"noop\t\t", "250 2.0.0"},
		{"NOOP x \t", "250 2.0.0"},
		{"RSET x", "501 5.5.4 RSET takes no argument"},
		{"rset \t ", "250 2.0.0"},
		{"STARTTLSX", "500 5.5.2 Syntax error, command unrecognized"},
		{"starttls", "502"}, // no TLS on this connector
		{"A BC D", "500 5.5.1 Command unrecognized"},
		{"expn x", "502 5.5.1 EXPN command not implemented"},
		{"VRFY a@example.test ", "252 2.5.0"},
		{"BDAT 3\r\nabc", "503 5.5.1 BDAT needs MAIL and RCPT first; chunk discarded"},
		{"MAIL FROM:<a@example.org> \t", "250"},
		{"RCPT TO:<b@example.test>\t", "250"},
		// Blanks before a BDAT line's CRLF are tolerated as on any
		// line (rt23b F1): its chunk follows the CRLF. A BDAT with no
		// size is malformed, and no chunk is read (the next line is a
		// command); before the first chunk the transaction stays.
		{"BDAT\t", "501 5.5.4 Syntax: BDAT"},
		{"BDAT 4 \r\nabcd", "250 2.0.0"},
		{"NOOP", "250 2.0.0"},
		{"bdat 4 last\r\nabcd", "250 2.0.0"},
	} {
		if strings.Contains(c.line, "\r\n") { // a BDAT line and its chunk
			d.send(c.line)
			d.expect(c.want)
			continue
		}
		d.cmd(c.line, c.want)
	}
	want := "BDAT 2xx=2 BDAT 5xx=2 EHLO 2xx=1 EHLO 5xx=2 EXPN 5xx=1 MAIL 2xx=1 NOOP 2xx=3 RCPT 2xx=1 " +
		"RSET 2xx=1 RSET 5xx=1 STARTTLS 5xx=2 VRFY 2xx=1 none 2xx=1 other 5xx=1"
	deadline := time.Now().Add(5 * time.Second)
	for obs.snapshot() != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := obs.snapshot(); got != want {
		t.Fatalf("counted\n%s\nwant\n%s", got, want)
	}
}
