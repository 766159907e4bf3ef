package queue

import (
	"fmt"
	"time"
)

// BuildDSNBody is BuildDSN for a body that may be spooled. A spooled
// content is read whole only when the sender asked for it (RET=FULL) and
// it fits in returnLimit; otherwise the DSN returns the header section
// alone, so a large message is never read into memory for its bounce.
func BuildDSNBody(reportingMTA string, m *Message, body Body, kind Notify, rcpts []int, now, retryUntil time.Time, id ID, returnLimit int64, in Inside) []byte {
	if !body.Spooled() {
		return buildDSN(reportingMTA, m, body.Head(), kind, rcpts, now, retryUntil, id, returnLimit, "", in)
	}
	if m.RetFull && returnLimit > 0 && body.Len() <= returnLimit {
		if b, err := body.Bytes(); err == nil {
			return buildDSN(reportingMTA, m, b, kind, rcpts, now, retryUntil, id, returnLimit, "", in)
		}
	}
	h, err := body.ReadHeaderSection(spoolMaxHeaderRead)
	if err != nil {
		h = nil // the DSN still goes, without the returned content's fields
	}
	note := retFullNote(m, kind) // why RET=FULL gets the headers only
	if note == "" && m.RetFull && kind == NotifyFailure {
		note = "The message could not be read back whole; only its headers are returned."
		if returnLimit > 0 && body.Len() > returnLimit {
			note = fmt.Sprintf("The message was larger than %d bytes; only its headers are returned.", returnLimit)
		} else if returnLimit <= 0 {
			note = "The message was too large to return whole; only its headers are returned."
		}
	}
	hm := *m
	hm.RetFull = false // headers only, labelled so (text/rfc822-headers)
	return buildDSN(reportingMTA, &hm, h, kind, rcpts, now, retryUntil, id, returnLimit, note, in)
}
