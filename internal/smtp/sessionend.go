package smtp

import (
	"log/slog"
	"strconv"
	"strings"
)

// The ends of a session umbra gives a reply that are no refusal of the
// client's (not counted in umbra_smtp_connections_rejected_total): its
// "session ended" line names them as the limits' ends are named.
const (
	endIdleTimeout  = "idle timeout"
	endShuttingDown = "shutting down"
)

// lineCodes are the log attributes of a reply as written ("421 4.7.0
// Line too long, …"): its code and, when it has one, its enhanced code,
// as replyAttrs gives them for a refusal's reply (code=421
// enhanced_code=4.7.0); none for no reply ("": the session ended
// without one).
func lineCodes(reply string) []any {
	if len(reply) < 3 {
		return nil
	}
	code, err := strconv.Atoi(reply[:3])
	if err != nil {
		return nil
	}
	out := []any{"code", code}
	enh, _, _ := strings.Cut(strings.TrimPrefix(reply[3:], " "), " ")
	if parts := strings.Split(enh, "."); len(parts) == 3 && len(enh) >= 5 && enh[0] == reply[0] {
		for _, p := range parts {
			if _, err := strconv.Atoi(p); err != nil {
				return out
			}
		}
		out = append(out, "enhanced_code", enh)
	}
	return out
}

// endLog logs the end of a session umbra gives reply (its last): the
// session's "session ended" line, with why and the reply's codes, before
// EHLO (no go-smtp session yet) as after it. It reports the logger it
// used (nil: none, tests' bare layers).
func (v *verbConn) endLog(why, reply string) *slog.Logger {
	l := v.logger()
	if l != nil {
		l.Info("session ended", append([]any{"reason", why}, append(lineCodes(reply), "commands_without_transaction", v.junk, "errors", v.errors)...)...)
	}
	return l
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
