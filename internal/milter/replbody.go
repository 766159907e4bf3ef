package milter

import (
	"bufio"
	"bytes"
	"io"

	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// replacement is a milter's replacement body as its chunks arrive
// (SMFIR_REPLBODY). It is joined in memory up to the transaction's spool
// threshold, reserved from the server's body budget as it grows; past
// the threshold, or when the budget cannot cover it, it goes on in a
// spool file (Transaction.SpoolBody), its line ends made CRLF as they
// are written, so a session holds at most the threshold of it (and the
// packet being read) whatever its size. Without a spool file to go to
// (the session keeps bodies in memory), a replacement past the budget is
// read and dropped (overBudget) and the message gets 452 4.3.1.
//
// The file is the replacement's until apply gives it to the transaction
// (ReplaceBodySpooled: made durable, then named only by the commit that
// queues the message); abort removes it on every other way out, and a
// crash before the commit leaves a file no record names, which the
// queue removes when it opens (its spool sweep).
type replacement struct {
	t          *smtp.Transaction
	mem        []byte
	overBudget bool
	file       *queue.SpoolFile
	w          *crlfWriter
	err        error // the spool file failed: the message gets a local error
}

// add takes the next chunk.
func (r *replacement) add(p []byte) {
	switch {
	case r.err != nil || r.overBudget:
		return
	case r.file != nil:
		r.write(p)
		return
	}
	n := int64(len(r.mem) + len(p))
	if r.t.SpoolBody != nil && n > r.t.SpoolThreshold {
		r.spill(p)
		return
	}
	if r.t.ReserveBody != nil && !r.t.ReserveBody(n) {
		if r.t.SpoolBody != nil {
			r.spill(p) // as a received body the budget cannot cover
			return
		}
		r.overBudget, r.mem = true, nil
		return
	}
	r.mem = append(r.mem, p...)
}

// spill moves the replacement to a spool file and writes p after it.
func (r *replacement) spill(p []byte) {
	f, err := r.t.SpoolBody()
	if err != nil {
		r.err, r.mem = err, nil
		return
	}
	r.file, r.w = f, newCRLFWriter(f)
	r.write(r.mem)
	r.mem = nil // the reservation stays until the transaction ends
	r.write(p)
}

func (r *replacement) write(p []byte) {
	if r.err != nil {
		return
	}
	if err := r.w.write(p); err != nil {
		r.err = err
	}
}

// size is the replacement's length so far: CRLF made in a spool file,
// as sent in memory.
func (r *replacement) size() int64 {
	if r.w != nil {
		return r.w.n
	}
	return int64(len(r.mem))
}

// abort removes the spool file, unless the transaction has it.
func (r *replacement) abort() {
	if r.file != nil {
		r.file.Abort()
		r.file = nil
	}
}

// crlfWriter writes a body with every bare CR and bare LF made CRLF, as
// crlf does to a body in memory, across chunk boundaries (a CR that ends
// one chunk and the LF that starts the next are one line end); it keeps
// the longest line's length, its CRLF counted, as longestLine of the
// result would give.
type crlfWriter struct {
	w       *bufio.Writer
	cr      bool  // the last byte was a CR: its line ends with the next byte, an LF or not
	line    int64 // octets of the current line, its end not counted
	longest int64
	n       int64 // octets written
}

func newCRLFWriter(w io.Writer) *crlfWriter {
	return &crlfWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (c *crlfWriter) write(p []byte) error {
	for len(p) > 0 {
		if c.cr {
			c.cr = false
			c.endLine()
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			c.text(p)
			break
		}
		c.text(p[:i])
		if p[i] == '\r' {
			c.cr = true
		} else {
			c.endLine()
		}
		p = p[i+1:]
	}
	_, err := c.w.Write(nil) // bufio keeps the first write error
	return err
}

func (c *crlfWriter) text(p []byte) {
	c.w.Write(p)
	c.line += int64(len(p))
	c.n += int64(len(p))
}

func (c *crlfWriter) endLine() {
	c.w.WriteString("\r\n")
	c.n += 2
	c.longest = max(c.longest, c.line+2)
	c.line = 0
}

// close ends the body (a last CR is a line end) and flushes it to the
// file.
func (c *crlfWriter) close() error {
	if c.cr {
		c.cr = false
		c.endLine()
	}
	if c.line > 0 {
		c.longest = max(c.longest, c.line+2) // a last line without its end gets a CRLF when relayed
	}
	return c.w.Flush()
}
