package smtp

import (
	"fmt"
	"io"

	"umbra/internal/queue"
)

// PushCopyBody is PushCopy for a body that may be spooled: the head goes
// as parts (the organisation id lines inserted, nothing copied) and the
// spool file's part streams after it in pieces of dataChunk, so a large
// copy on receipt never sits whole in memory.
func (c *Client) PushCopyBody(m *queue.Message, body queue.Body, dbID string) error {
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
	return c.pushCopy(m, head, &exactReader{r: r, n: rest.Len()}, body.Len(), dbID)
}

// exactReader fails unless r gives exactly n bytes: a spool file cut
// short must never pass for a whole message.
type exactReader struct {
	r    io.Reader
	n    int64
	seen int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	k, err := e.r.Read(p)
	e.seen += int64(k)
	if e.seen > e.n || err == io.EOF && e.seen != e.n {
		return k, fmt.Errorf("spool file: %d bytes where %d were stored", e.seen, e.n)
	}
	return k, err
}
