package smtp

import (
	"umbra/internal/queue"
)

// discardRecorder is implemented by a queue that writes message events
// (queue.Manager.RecordDiscard): a message a check discards is answered
// 250 but never queued, and `umbra track` must still find it.
type discardRecorder interface {
	RecordDiscard(m *queue.Message, why string)
}

// trackDiscard records that the message id (content without the trace
// header) was accepted and delivered to nobody: discarded by a check,
// or every recipient removed by the checks (allRemoved).
func (s *session) trackDiscard(id queue.ID, content []byte, allRemoved bool) {
	s.trackDiscardSized(id, content, int64(len(content)), allRemoved)
}

// trackDiscardSized is trackDiscard for a message of size bytes of which
// content holds at least the header section (a spooled body).
func (s *session) trackDiscardSized(id queue.ID, content []byte, size int64, allRemoved bool) {
	rec, ok := s.srv.queue.(discardRecorder)
	if !ok {
		return
	}
	why := "discarded by check " + s.discardBy
	if allRemoved {
		why = "every recipient removed by the checks"
	} else if s.discardBy == "" {
		why = "discarded by a check"
	}
	m := &queue.Message{ID: id, From: s.from, MessageID: headerValue(content, "Message-ID"), Connector: s.c.cfg.Name,
		ClientIP: s.ip.String(), Helo: s.conn.Hostname(), Rcpts: append([]queue.Recipient(nil), s.rcpt...),
		Size: size}
	rec.RecordDiscard(m, why)
}
