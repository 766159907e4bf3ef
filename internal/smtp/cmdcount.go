package smtp

import "strconv"

// Command replies for umbra_smtp_commands_total are counted where they
// are written, by the verb layer, not where a session handler returns:
// only a reply that went to the client counts, whoever wrote it (go-smtp
// or the layer), and the same way for DATA and BDAT. A client that hangs
// up before its command is answered (in the middle of a DATA body or a
// BDAT chunk, or while its AUTH exchange waits for a response) was sent
// no reply and none is counted; a reply the layer sends as it ends the
// session (421 at a timeout or a data rate cut) is counted for the
// command it answers. A reply held back for a pipelined command
// (replyhold.go) is counted when held: it is written before the layer
// reads again, and counted only once that write succeeded (a client
// that reset the connection under a pipelined group was sent none).
// Intermediate replies (354, 334) are not counted, nor replies to
// commands the layer made up (synth).

// countedCommand is the metric label of a command whose replies are
// counted, "" for the others.
func countedCommand(cmd string) string {
	switch cmd {
	case "MAIL", "RCPT", "DATA", "AUTH", "BDAT":
		return cmd
	}
	return ""
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

// replyDue reports the command and code b answers, when b is the final
// reply of the command whose reply is due, and marks it answered.
func (v *verbConn) replyDue(b []byte) (string, int, bool) {
	if v.due == "" || v.gone || len(b) < 4 || b[3] != ' ' && b[3] != '\r' {
		return "", 0, false
	}
	code, err := strconv.Atoi(string(b[:3]))
	if err != nil || code == 354 || code == 334 {
		return "", 0, false
	}
	cmd := v.due
	v.due = ""
	return cmd, code, true
}

func (v *verbConn) observeReply(cmd string, code int) {
	if s := v.sess(); s != nil {
		s.srv.obs.Command(s.c.cfg.Name, cmd, code)
	}
}
