package smtp

import (
	"bytes"
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
	c.dataRest = &exactReader{r: r, n: rest.Len()}
	defer func() { c.dataRest = nil }()
	return c.pushCopy(m, head, body.Len(), dbID)
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

// stuffData writes the DATA payload of parts, followed by c.dataRest
// when a spooled body is being sent.
func (c *Client) stuffData(parts [][]byte, emit func([]byte) error) error {
	if c.dataRest == nil {
		return stuffParts(parts, dataChunk, emit)
	}
	rs := make([]io.Reader, 0, len(parts)+1)
	for _, p := range parts {
		rs = append(rs, bytes.NewReader(p))
	}
	return stuffStream(io.MultiReader(append(rs, c.dataRest)...), dataChunk, emit)
}

// stuffStream is stuffChunks over a message read from r: the same bytes
// (AppendDotStuffed's), in pieces of about chunk bytes, one buffer
// reused. A piece never ends in a CR, so a CRLF is never cut in two.
func stuffStream(r io.Reader, chunk int, emit func([]byte) error) error {
	in := make([]byte, 0, max(chunk, 2)) // room to read past a held CR
	out := make([]byte, 0, chunk+chunk/64+8)
	lineStart, total := true, 0
	for eof := false; !eof; {
		n, err := r.Read(in[len(in):cap(in)])
		in = in[:len(in)+n]
		total += n
		switch {
		case err == io.EOF:
			eof = true
		case err != nil:
			return err
		case n == 0:
			continue
		}
		cut := len(in)
		if !eof && cut > 0 && in[cut-1] == '\r' {
			cut-- // its LF may come with the next read
		}
		if cut == 0 && !eof {
			continue
		}
		out, lineStart = appendStuffed(out[:0], in[:cut], lineStart)
		in = in[:copy(in, in[cut:])]
		if eof {
			if total == 0 {
				return emit([]byte("\r\n.\r\n"))
			}
			if !lineStart {
				out = append(out, '\r', '\n')
			}
			out = append(out, ".\r\n"...)
		}
		if len(out) > 0 {
			if err := emit(out); err != nil {
				return err
			}
		}
	}
	return nil
}
