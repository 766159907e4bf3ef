package smtp

import (
	"context"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// A push the primary gave up on (rt20a F1). A primary waits a bounded
// time for a copy's answer (delivery receiptTry); past it, it closes the
// session and counts the copy unconfirmed: it makes the copy on another
// server and owes this one a discard, written on its own disk only. A
// holder that was stopped (SIGSTOP, a stalled VM) with the push in its
// socket reads it once it runs again, after that close. Were it kept,
// the loss of the primary's disk before its discard came would leave two
// holders of one message, each taking it over and delivering it.
//
// So a holder that has committed a push looks, before answering, whether
// the primary has closed the session already (its FIN is in the socket:
// peerShutDown, below any TLS); then it withdraws the copies that commit
// stored anew (queue WithdrawShadowCopies, a commit of its own) and the
// answer goes nowhere. The primary, which closed before any answer could
// reach it, counts them unconfirmed whatever this server does, and its
// later discard finds nothing. A crash between the two commits keeps the
// copy as before (the primary's discard removes it). Left: an answer
// written in the same instant as the primary's close (the FIN not there
// yet at the look, the answer too late to be read) — the copy is kept,
// and only the primary's discard removes it, as before.

// CopyWithdrawer removes copies on receipt whose push the primary gave
// up on (queue.Manager).
type CopyWithdrawer interface {
	WithdrawShadowCopies(ctx context.Context, primary string, ids []queue.ID) (int, error)
}

// primaryGaveUp reports whether the session's client (a primary pushing
// copies) has closed its side of the connection: nothing this server
// answers now reaches it.
func (s *session) primaryGaveUp() bool {
	raw := s.raw
	if tc, ok := raw.(*trackedConn); ok {
		raw = tc.Conn
	}
	return raw != nil && peerShutDown(raw)
}

// withdrawAbandoned withdraws the copies of ids (the records a push's
// commit stored anew) when the primary closed the session before this
// answer: it reports whether it did. A failed withdrawal keeps the
// copies (the primary's discard removes them, as before); it is logged.
func (s *session) withdrawAbandoned(ids []queue.ID) bool {
	if len(ids) == 0 || !s.primaryGaveUp() {
		return false
	}
	w, ok := s.srv.queue.(CopyWithdrawer)
	if !ok {
		return false
	}
	n, err := w.WithdrawShadowCopies(s.srv.ctx, s.shadowServer, ids)
	if err != nil {
		s.log.Error("withdrawing shadow copies whose push the primary gave up on failed: its discard removes them", "primary", s.shadowServer, "copies", len(ids), "err", err)
		return false
	}
	s.log.Info("shadow copies withdrawn: the primary closed the session before their answer (it counts them unconfirmed)", "primary", s.shadowServer, "copies", n)
	return true
}

// replyCopyWithdrawn answers a push whose copy was withdrawn: nobody
// reads it (the primary closed the session); were it read, it is a
// failed try, never a copy made.
var replyCopyWithdrawn = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 0},
	Message: "Shadow copy withdrawn: the session was closed before its answer"}
