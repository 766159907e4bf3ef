package smtp

import (
	"umbra/internal/queue"
)

// PushCopyBody is PushCopy for a body that may be spooled: the head goes
// as parts (the organisation id lines inserted, nothing copied) and the
// spool file's part streams after it in pieces of dataChunk, so a large
// copy on receipt never sits whole in memory.
func (c *Client) PushCopyBody(m *queue.Message, body queue.Body, dbID string) error {
	// A push that fails before pushCopy (its spool file unreadable)
	// wrote nothing: DataSent is not the last push's on this session
	// (rrrcpt43).
	c.dataSent = false
	if !body.Spooled() {
		return c.PushCopy(m, body.Head(), dbID)
	}
	head := body.Head()
	rest, err := body.WithHead(nil, int64(len(head)))
	if err != nil {
		return err
	}
	r, err := rest.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	return c.pushCopy(m, head, r, body.Len(), dbID) // exactly rest.Len() bytes or an error (queue.Body.Reader)
}
