package smtp

import (
	"errors"
	"fmt"
	"sync/atomic"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
)

// Replies of recipient validation at RCPT (SMTP-6).
var (
	replyUnknownRcpt   = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "Recipient address rejected: user unknown"}
	replyRcptUndecided = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Recipient address cannot be verified now, try again later"}
	replyRcptInternal  = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Recipient address cannot be verified now: internal error of this server, try again later"}
	replyRcptDirectory = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 3}, Message: "Directory server failure: recipient address cannot be verified now, try again later"}
)

// SetRecipients replaces the recipient validator (on reload). Sessions
// use the one in force when they ask.
func (s *Server) SetRecipients(v *recipients.Validator) { s.rcptv.Store(v) }

// validateRcpt decides a recipient at an accepted domain before it is
// taken: unknown → 550 5.1.1, undecidable → 451 4.3.0, refused by a
// callout's next hop for another reason than an unknown mailbox, or for
// now (a 4xx) → its own code and enhanced code, with the status's reason
// (recipients.Refusal). The postmaster
// mailbox of every accepted domain is always accepted (RFC 5321 §4.5.1).
// Addresses outside the accepted domains are relaying, decided by the
// rights alone. A server built without a validator (only the package's
// own tests) validates nothing.
func (s *session) validateRcpt(a Address) error {
	v := s.srv.rcptv.Load()
	if v == nil || mailaddr.IsPostmaster(a.Local) ||
		s.srv.routing.Load().Accepted(a.Domain) == routing.NotAccepted {
		return nil
	}
	ctx, stop := s.checkContext() // a lookup for the client that asked: ended when it leaves
	verdict, err := v.Check(ctx, a.String())
	cut := s.checksCutOff(ctx, "RCPT") // before stop, which ends ctx
	stop()
	if cut != nil {
		return cut
	}
	switch verdict {
	case recipients.Known:
		return nil
	case recipients.Unknown:
		// Through the refusal log, with its reply, as every refusal
		// (frontrt35 F2: a dictionary of guesses was logged line for
		// line, without the code).
		s.srv.refusals.log(s.log, "recipient refused", "unknown_recipient", replyUnknownRcpt, s.ip, "rcpt", a.String())
		return replyUnknownRcpt
	}
	if rf := (*recipients.Refusal)(nil); errors.As(err, &rf) {
		// The next hop refused it for another reason than an unknown
		// mailbox (full, policy): its code, not "user unknown". The
		// hop is the organisation's: its text (which can name its hosts
		// or paths) goes to the log, the client gets the status's reason.
		st := fmt.Sprintf("%d.%d.%d", rf.Enhanced[0], rf.Enhanced[1], rf.Enhanced[2])
		if rf.NotAsked {
			// The hop was never asked: it does not offer SMTPUTF8,
			// which the address needs (delivery would get this 553).
			r := &gosmtp.SMTPError{Code: rf.Code, EnhancedCode: gosmtp.EnhancedCode(rf.Enhanced),
				Message: "Recipient address rejected: " + queue.RcptNeedsSMTPUTF8Text}
			s.srv.refusals.log(s.log, "recipient refused", "next_hop_no_smtputf8", r, s.ip, "rcpt", a.String(), "reply", rf.Text)
			return r
		}
		said, reason := "Recipient address rejected by the next hop: ", "next_hop_refused"
		if rf.Temporary() {
			// 452 4.2.2 mailbox full, 451 4.3.0: the hop's code, so
			// the sender knows what it waits for (rt36 F4).
			said, reason = "Recipient address temporarily refused by the next hop: ", "next_hop_deferred"
		}
		r := &gosmtp.SMTPError{Code: rf.Code, EnhancedCode: gosmtp.EnhancedCode(rf.Enhanced), Message: said + queue.StatusReason(st)}
		s.srv.refusals.log(s.log, "recipient refused", reason, r, s.ip, "rcpt", a.String(), "reply", rf.Text)
		return r
	}
	// Undecidable: a refusal like the others, through the refusal log
	// (front47 F1: a WARN line per RCPT let any client write the log
	// without bound while the next hops were unreachable). The callout's
	// error is the organisation's, for the log only.
	r, reason := replyRcptUndecided, "recipient_unverifiable"
	switch {
	case errors.Is(err, recipients.ErrInternal):
		// umbra's own defect (a lookup that panicked, logged with the
		// panic where it happened): said as this server's fault, never
		// as the directory's (front48 item 4).
		r, reason = replyRcptInternal, "internal_error"
	case errors.Is(err, recipients.ErrDirectoryFailure):
		r, reason = replyRcptDirectory, "directory_failure"
	}
	s.srv.refusals.log(s.log, "recipient refused", reason, r, s.ip, "rcpt", a.String(), "err", errText(err))
	return r
}

// errText is err's text for a log line; "" for none.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// refusalHolder is implemented by a queue that can hand a waiting
// sender the refusal of all its recipients (queue.Manager.HoldRefusal).
type refusalHolder interface {
	HoldRefusal(id queue.ID) func() *queue.Refusal
}

func noRefusal() *gosmtp.SMTPError { return nil }

// senderLeaver is implemented by a queue that can be told that the
// sender waiting for a message's confirmation left (queue.Manager.SenderLeft).
type senderLeaver interface {
	SenderLeft(id queue.ID)
}

// holdRefusal offers to take a refusal while the sender waits for
// delayed acknowledgement; release returns the reply to give instead of
// the 250, or nil. left says that the sender closed its connection
// before its reply (awaitConfirmation): release then gives the refusal
// to nobody, and the log says the sender left rather than that it got it.
func (s *session) holdRefusal(id queue.ID) (release func() *gosmtp.SMTPError, left func()) {
	rh, ok := s.srv.queue.(refusalHolder)
	if !ok {
		return func() *gosmtp.SMTPError { return nil }, func() {}
	}
	var gone atomic.Bool
	rel := rh.HoldRefusal(id)
	return func() *gosmtp.SMTPError {
			r := rel()
			if r == nil {
				return nil
			}
			reply := &gosmtp.SMTPError{Code: r.Code, EnhancedCode: gosmtp.EnhancedCode(r.Enhanced), Message: replyText(r.Text)} // the next hop's text: escaped and capped
			if gone.Load() {
				// No reply reaches the sender, and it was given no 250:
				// the message is refused with no DSN (SMTP-7), and the
				// log says the sender never heard it.
				s.log.Info("message rejected after the sender left: no reply reached it and no DSN is sent",
					"msg_id", id.String(), "reason", "next_hop_refused_after_sender_left", "code", reply.Code,
					"enhanced", fmt.Sprintf("%d.%d.%d", reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2]))
				return reply
			}
			// A refusal given to the client: through the refusal log, with
			// the codes it got (front47 F1).
			s.srv.refusals.log(s.log, "message rejected", "next_hop_refused_while_waiting", reply, s.ip, "msg_id", id.String())
			return reply
		}, func() {
			gone.Store(true)
			if sl, ok := s.srv.queue.(senderLeaver); ok {
				sl.SenderLeft(id)
			}
		}
}
