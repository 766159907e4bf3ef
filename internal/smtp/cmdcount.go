package smtp

import (
	"strconv"
	"strings"
)

// Every final reply written to the client is counted once in
// umbra_smtp_commands_total, where it is written, by the verb layer,
// not where a session handler returns: only a reply that went to the
// client counts, whoever wrote it (go-smtp or the layer), and the same
// way for DATA and BDAT. It is counted under the command it answers
// (countedCommand: the verb, "other" for one umbra does not know), or
// under "none" when it answers no command: the greeting, and a 421 the
// layer sends as it ends a session between commands (the error limit,
// an idle timeout, a shutdown). A command line refused before it is
// run (too long, a bare CR or LF) is answered as that command; a 421 the
// layer sends as it ends the session in the middle of a command (a
// timeout or a data rate cut in a DATA body) is counted for the command
// it answers. A client that hangs up before its command is answered (in
// the middle of a DATA body or a BDAT chunk, or while its AUTH exchange
// waits for a response) was sent no reply and none is counted. A reply
// held back for a pipelined command (replyhold.go) is counted when
// held: it is written before the layer reads again, and counted only
// once that write succeeded (a client that reset the connection under a
// pipelined group was sent none). Intermediate replies (354, 334) are
// not counted, nor replies to commands the layer made up (synth), which
// are not written.

// countedCommand is the metric label of a command: its verb when umbra
// knows it (a bounded set), else "other".
func countedCommand(cmd string) string {
	switch cmd {
	case "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "AUTH", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP",
		"STARTTLS", "XSHADOW", "XQUERYDISCARD", "XQDISCARD", "XQUERYHELD",
		"XQUERYKEPT", "XQUERYDROPPED", "XQUERYTAKENDONE", "XDISCARD":
		return cmd
	}
	return "other"
}

// noCommand labels a reply that answers no command.
const noCommand = "none"

// lineCommand is the command a command line (its CRLF taken off; or the
// start of one too long to read whole) is: go-smtp's reading of its
// verb, else its first word.
func lineCommand(s string) string {
	if cmd := goSMTPVerb(s); cmd != "" {
		return cmd
	}
	if i := strings.IndexAny(s, " \r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.ToUpper(s)
}

// countReply counts the final reply line b if it answers the command
// whose reply is due; the caller has written b.
func (v *verbConn) countReply(b []byte) {
	if cmd, code, ok := v.replyDue(b); ok {
		v.observeReply(cmd, code)
	}
}

// holdCount records the count of a reply held back (replyhold.go), to
// be made when the held replies are written (writeHeld); the caller
// holds v.mu.
func (v *verbConn) holdCount(b []byte) {
	if cmd, code, ok := v.replyDue(b); ok {
		v.heldCounts = append(v.heldCounts, heldCount{cmd, code})
	}
}

// heldCount is a reply held back, counted once written.
type heldCount struct {
	cmd  string
	code int
}

// replyDue reports the command and code b answers, when b is a final
// reply line, and marks the command answered: a final reply with no
// command due answers none (noCommand).
func (v *verbConn) replyDue(b []byte) (string, int, bool) {
	if v.gone || len(b) < 4 || b[3] != ' ' && b[3] != '\r' {
		return "", 0, false
	}
	code, err := strconv.Atoi(string(b[:3]))
	if err != nil || code == 354 || code == 334 {
		return "", 0, false
	}
	cmd := v.due
	if cmd == "" {
		cmd = noCommand
	}
	v.due = ""
	return cmd, code, true
}

// observeReply counts a reply under the connection's connector (its
// session may not exist yet: the greeting).
func (v *verbConn) observeReply(cmd string, code int) {
	if v.command != nil {
		v.command(cmd, code)
	}
}
