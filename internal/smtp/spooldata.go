package smtp

import (
	"bytes"
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// The end of data for a body the verb layer spooled (spoolbody.go). The
// session holds the header section only: the checks on the whole body
// were counted as it streamed by, the header work (hop count,
// Delivered-To loop, Return-Path, forged Authentication-Results, header
// firewall, origin, Message-ID) runs on the header section with umbra's
// trace field in front, exactly as the in-memory path runs it on the
// whole message (the header tools stop at the empty line), and the
// stored body is that edited header section followed by the spool file
// from the end of the original header section on. The end-of-data
// checks get the header section as Transaction.Content and read the rest
// through Transaction.Rest (message authentication verifies DKIM and ARC
// as a stream, a milter gets the body in chunks from it); a session
// with a check that needs the message whole in memory (not a
// BodyStreamer) keeps its bodies in memory (dataChecks).

// replyHeaderTooBig refuses a message whose header section is over
// transport.max_header_size.
var replyHeaderTooBig = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "Message header size exceeds fixed maximum size"}

// checkHeaderSize refuses a header section over the limit: section as
// it ends (headerSection), with its empty line — the one sealHeadSection
// puts after a section sent without one (no body, or a first body line
// that is no field), with the CRLF of a last line sent without one,
// counted as much as one the client sent (storedHeaderLen). One limit,
// whether a body follows or not.
func (s *session) checkHeaderSize(section []byte) *gosmtp.SMTPError {
	if storedHeaderLen(section) > s.maxHeaderSize() {
		s.logBodyRefusal(replyHeaderTooBig, "max_header_size", s.srv.maxHeader)
		return replyHeaderTooBig
	}
	return nil
}

// storedHeaderLen is the length of header section section as umbra
// stores it, its empty line included (sealHeadSection).
func storedHeaderLen(section []byte) int {
	switch {
	case endsWithEmptyLine(section):
		return len(section)
	case len(section) == 0 || bytes.HasSuffix(section, []byte("\r\n")):
		return len(section) + 2
	}
	return len(section) + 4
}

// spooling: a body of this session past the threshold goes to a spool
// file.
func (s *session) spooling() bool {
	// A batch of copies (batch.go) is parsed in memory; its size is
	// bounded by the connector's message size as any body.
	return s.srv.newSpool != nil && !s.dataChecks && s.pendingBatch == 0
}

// takeSpooled takes the spool file of the body that just ended from the
// verb layer (nil: the body is in memory, or none was read).
func (s *session) takeSpooled() *spooledBody {
	if s.vc == nil {
		return nil
	}
	sp, err := s.vc.takeSpooled()
	if err != nil {
		s.storeFailed("spool file failed", err)
	}
	return sp
}

// abort removes the spool file unless it was handed to the queue (nil
// receiver: nothing to do).
func (sp *spooledBody) abort() {
	if sp != nil && !sp.handed {
		sp.file.Abort()
	}
}

// dataSpooled is data() for a spooled body, from the checks on the
// content on (the trace field is made, go-smtp's empty body read).
func (s *session) dataSpooled(id queue.ID, trace string, sp *spooledBody) error {
	st := &sp.stats
	var berr *gosmtp.SMTPError
	switch {
	case st.nul:
		berr = replyNUL
	case st.empty():
		berr = replyEmptyMessage
	case s.txConn().cfg.BareNewlines != config.BareNewlinesNormalize && st.end() == '\n':
		berr = replyBareLF
	case s.txConn().cfg.BareNewlines != config.BareNewlinesNormalize && st.end() == '\r':
		berr = replyBareCR
	}
	if berr != nil {
		s.logBodyRefusal(berr)
		return berr
	}
	skip := len(sp.head) // the header section; the whole content when it has no end
	if err := s.checkHeaderSize(sp.head); err != nil {
		return err
	}
	head := sp.withTrace(trace) // the header section is not copied
	head, perr := s.receivePolicy(head)
	if perr != nil {
		return perr
	}
	head = s.removeForgedResults(head, len(trace))
	// The stored header/body boundary for the checks: the empty line
	// where the header section ended at a line that is no field, or at
	// the end of the message.
	head = sealHeadSection(head, len(trace))
	// Durable before any commit names it; the checks read it from here.
	file, err := sp.file.Finish()
	if err != nil {
		s.storeFailed("spool file not made durable", err, "msg_id", id.String())
		if noStorage(err) {
			return replyNoStorage
		}
		return replyLocalError(id)
	}
	rest, err := file.WithHead(nil, int64(skip))
	if err != nil {
		s.log.Error("spooled body", "msg_id", id.String(), "err", err)
		return replyLocalError(id)
	}
	content, rcpts, replaced, cerr := s.checkDataRest(id, head[len(trace):], rest.Reader, rest.Len())
	if cerr != nil {
		return cerr
	}
	if len(content) != len(head)-len(trace) || len(content) > 0 && &content[0] != &head[len(trace)] {
		head = append(head[:len(trace):len(trace)], content...) // the header section as the checks left it
	}
	more := rest.Len() // what follows head
	if replaced {
		// A check replaced the body: the message is in memory now, or
		// head followed by the replacement's spool file (s.replBody);
		// the received body's spool file goes (data() aborts it, not
		// handed).
		more = 0
		if s.replBody != nil {
			more = s.replBody.size
		}
	}
	size := int64(len(head)) + more // the message, trace included
	if s.discard || len(rcpts) == 0 {
		s.log.Info("message discarded by a check", "msg_id", id.String(), "size", size)
		s.trackDiscardSized(id, head[len(trace):], size-int64(len(trace)), len(rcpts) == 0 && !s.discard)
		return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id.String()}
	}
	head, m := s.message(id, head, len(trace), rcpts, st.eight)
	var body queue.Body
	switch {
	case replaced && s.replBody != nil:
		body = s.replBody.withHead(head)
	case replaced:
		body = queue.MemBody(head)
	default:
		if body, err = file.WithOwnHead(head, int64(skip)); err != nil { // head is not used again
			s.log.Error("spooled body", "msg_id", id.String(), "err", err)
			return replyLocalError(id)
		}
	}
	noteGrown(m, sp.sent, body.Len()-int64(len(trace)))
	return s.submitStored(m, body, sp)
}

// submitStored hands a message made at the end of data to the queue: a
// copy on receipt kept, a message with its copy on receipt, or a message
// alone. sp is the spool file body names (the queue takes it with the
// commit), nil when body is in memory.
func (s *session) submitStored(m *queue.Message, body queue.Body, sp *spooledBody) error {
	if s.pendingCopyDB != "" {
		return s.keepCopy(m, body, sp)
	}
	if s.copiesOnReceipt() {
		if m.Quarantine == "" {
			return s.submitWithCopyBody(m, body, sp)
		}
		m.NoCopy = true // as in data(): marked at its release
	}
	return s.submitSpooled(m, body, sp)
}

// submitSpooled is the end of data's Submit for a spooled body, with the
// delayed acknowledgement as data() gives it.
func (s *session) submitSpooled(m *queue.Message, body queue.Body, sp *spooledBody) error {
	id := m.ID
	release, left := noRefusal, func() {}
	if s.delaysAck() {
		release, left = s.holdRefusal(id)
	}
	if err := s.submitBody(m, body, sp); err != nil {
		release()
		if errors.Is(err, queue.ErrQuarantineFull) {
			return replyQuarantineFull
		}
		s.storeFailed("enqueue failed", err, "msg_id", id.String())
		if noStorage(err) {
			return replyNoStorage
		}
		return replyLocalError(id)
	}
	s.srv.storage.stored()
	s.srv.obs.Received(s.c.cfg.Name, int(body.Len()))
	s.logAccepted(m, int(body.Len()))
	return s.acknowledge(id, release, left)
}

// submitBody hands body to the queue (SubmitBody). From the call on the
// spool file is the queue's: committed, it names the file; failed, the
// file is removed here.
func (s *session) submitBody(m *queue.Message, body queue.Body, sp *spooledBody) error {
	bq := s.srv.queue.(BodyQueue) // spooling is on only for a BodyQueue (NewServer)
	err := bq.SubmitBody(s.srv.ctx, m, body)
	if err == nil && body.Spooled() {
		sp.handed = true
	}
	return err
}

// withHeadSection is body with its first n bytes (trace field and header
// section) replaced by head, which the header work made of them. body is
// returned as it is when head is still its own start (edited in place or
// not at all).
func withHeadSection(body, head []byte, n int) []byte {
	if len(head) == n && (n == 0 || &head[0] == &body[0]) {
		return body
	}
	return append(head[:len(head):len(head)], body[n:]...)
}

// ReplySpoolFailed is the reply to a message whose spool file failed
// (err from queue.SpoolFile): 452 4.3.1 for want of room, else 451
// 4.3.0. A check that spools a body it builds (Transaction.SpoolBody)
// answers with it, as the session does for a received body.
func ReplySpoolFailed(err error) *gosmtp.SMTPError {
	if noStorage(err) {
		return replyNoStorage
	}
	return replyLocalSpool
}
