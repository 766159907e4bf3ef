package smtp

import "log/slog"

// The ends of a session umbra gives a reply that are no refusal of the
// client's (not counted in umbra_smtp_connections_rejected_total): its
// "session ended" line names them as the limits' ends are named.
const (
	endIdleTimeout  = "idle timeout"
	endLineTimeout  = "command line timeout" // part of a line came, not its CRLF, within idle_timeout
	endShuttingDown = "shutting down"
)

// lineCodes are the log attributes of a reply as written ("421 4.7.0
// Line too long, …"), read as the connection refusals' are (fixedReply),
// given as every refusal's are (replyAttrs: code=421
// enhanced_code=4.7.0); none for no reply ("": the session ended without
// one).
func lineCodes(reply string) []any {
	return replyAttrs(fixedReply(reply))
}

// endLog logs the end of a session umbra gives reply (its last): the
// session's "session ended" line, with why and the reply's codes, before
// EHLO (no go-smtp session yet) as after it; nothing in tests' bare
// layers (no logger).
func (v *verbConn) endLog(why, reply string) {
	if l := v.logger(); l != nil {
		l.Info("session ended", append([]any{"reason", why}, append(lineCodes(reply), "commands_without_transaction", v.junk, "errors", v.errors)...)...)
	}
}

// drainEnded logs the end of a session the drain closes with reply,
// from the drain's goroutine: the session's logger, without the counts
// the session's own goroutine keeps.
func drainEnded(tc *trackedConn, reply string) {
	var l *slog.Logger
	if s := tc.sess.Load(); s != nil {
		l = s.log
	} else if tc.stats.log != nil {
		l = tc.stats.log
	}
	if l != nil {
		l.Info("session ended", append([]any{"reason", endShuttingDown}, lineCodes(reply)...)...)
	}
}
