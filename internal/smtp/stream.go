package smtp

import (
	"bytes"
	"io"

	gosmtp "github.com/emersion/go-smtp"
)

// Streaming a message that is not in memory (a spooled body): the DATA
// payload is made from a reader in pieces of dataChunk bytes, with the
// same dot-stuffing and line-end rules as AppendDotStuffed, so the bytes
// on the wire are exactly those of the joined message sent whole.

// SendDataStream is SendDataParts for a message given as parts followed
// by the content of tail, read in pieces as it is sent.
func (c *Client) SendDataStream(parts [][]byte, tail io.Reader, n int) ([]DataReply, error) {
	return c.sendData(parts, tail, n)
}

// PipelineStream is Pipeline for a message given as parts followed by
// the content of tail, read in pieces as it is sent.
func (c *Client) PipelineStream(from string, mo *gosmtp.MailOptions, rcpts []Recipient, parts [][]byte, tail io.Reader, lmtp bool) *Pipelined {
	return c.pipelineStream(from, mo, rcpts, parts, tail, lmtp, false)
}

// stuffBody emits parts, then tail when there is one.
func stuffBody(parts [][]byte, tail io.Reader, chunk int, emit func([]byte) error) error {
	if tail == nil {
		return stuffParts(parts, chunk, emit)
	}
	rs := make([]io.Reader, 0, len(parts)+1)
	for _, p := range parts {
		rs = append(rs, bytes.NewReader(p))
	}
	return stuffReader(io.MultiReader(append(rs, tail)...), chunk, emit)
}

// stuffReader emits the DATA payload of everything r yields (as
// AppendDotStuffed makes it of the whole) in pieces of about chunk
// bytes, reusing two buffers: emit must not keep the slice. A piece
// never ends with a CR: it is held for the next, so a CRLF split by a
// read is not taken for a bare CR.
func stuffReader(r io.Reader, chunk int, emit func([]byte) error) error {
	if chunk < 2 {
		chunk = 2
	}
	in := make([]byte, chunk)
	out := make([]byte, 0, chunk+chunk/64+8)
	held := 0 // a CR kept at in[0] from the previous read
	lineStart, total := true, 0
	for {
		n, err := io.ReadFull(r, in[held:])
		n += held
		held = 0
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return err
		}
		p := in[:n]
		if !eof && n > 0 && p[n-1] == '\r' {
			p, held = p[:n-1], 1
		}
		if len(p) > 0 {
			total += len(p)
			out, lineStart = appendStuffed(out[:0], p, lineStart)
			if err := emit(out); err != nil {
				return err
			}
		}
		if held == 1 {
			in[0] = '\r'
		}
		if eof {
			break
		}
	}
	out = out[:0]
	switch {
	case total == 0:
		out = append(out, "\r\n.\r\n"...)
	case !lineStart:
		out = append(out, "\r\n.\r\n"...)
	default:
		out = append(out, ".\r\n"...)
	}
	return emit(out)
}

// bodyWrites sends a message body (stuffBody's pieces) in writes of up
// to dataChunk bytes: the pieces of a small message — the organisation
// id line, the stored body, the end marker — go in one write(2), one TCP
// segment and one wakeup of the next hop instead of one per piece. It
// returns the emit function and the flush that must follow the last
// piece; neither may be called after flush (its buffer goes back to a
// pool, bodyscan.go).
func bodyWrites(w io.Writer, parts [][]byte, tail io.Reader) (emit func([]byte) error, flush func() error) {
	bw := bodyWriter(w)
	return func(b []byte) error { _, err := bw.Write(b); return err }, func() error {
		err := bw.Flush()
		putBodyWriter(bw)
		return err
	}
}

// writeGroup writes head and then parts through one pooled buffer (as
// few writes as the buffer allows): a pushed copy's commands and body
// (pushone.go, batch.go).
func writeGroup(w io.Writer, head []byte, parts [][]byte) error {
	emit, flush := bodyWrites(w, nil, nil)
	err := emit(head)
	for _, p := range parts {
		if err != nil {
			break
		}
		err = emit(p)
	}
	if ferr := flush(); err == nil {
		err = ferr
	}
	return err
}
