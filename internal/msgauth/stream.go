package msgauth

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"io"
)

// A message whose body the receive session spooled (smtp.Transaction.Rest)
// is verified through a reader: the DKIM body goes to go-msgauth as a
// stream, and an ARC message signature's body hash is computed by
// bodyHasher as the body streams by, never holding it whole.

// restOpener opens the part of the message after Transaction.Content
// (nil: Content is the whole message).
type restOpener func() (io.ReadCloser, error)

// openBody is a reader of b followed by the rest of the message.
func openBody(b []byte, rest restOpener) (io.Reader, func(), error) {
	if rest == nil {
		return bytes.NewReader(b), func() {}, nil
	}
	r, err := rest()
	if err != nil {
		return nil, nil, err
	}
	return io.MultiReader(bytes.NewReader(b), r), func() { r.Close() }, nil
}

// bodyHasher is canonBody followed by SHA-256, as a stream (RFC 6376
// §3.4.3, §3.4.4). Its input has no bare CR (the receive session refused
// or normalised them): every CR ends a line with the LF after it.
type bodyHasher struct {
	h       hash.Hash
	relaxed bool
	sp      bool // relaxed: white space pending in the line
	content bool // the line has content so far
	empties int  // empty lines not yet written (dropped at the end)
	wrote   bool
	buf     []byte
}

func newBodyHasher(relaxed bool) *bodyHasher {
	return &bodyHasher{h: sha256.New(), relaxed: relaxed, buf: make([]byte, 0, 32<<10)}
}

func (b *bodyHasher) put(p []byte) {
	b.buf = append(b.buf, p...)
	if len(b.buf) >= 32<<10 {
		b.h.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

// startContent writes what a line's first content byte needs before it.
func (b *bodyHasher) startContent() {
	for ; b.empties > 0; b.empties-- {
		b.put([]byte("\r\n"))
	}
	b.content, b.wrote = true, true
}

func (b *bodyHasher) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\r':
			i++
		case c == '\n':
			if b.content {
				b.put([]byte("\r\n"))
			} else {
				b.empties++
			}
			b.sp, b.content = false, false
			i++
		case b.relaxed && (c == ' ' || c == '\t'):
			b.sp = true
			i++
		default:
			if !b.content {
				b.startContent()
			}
			if b.sp {
				b.put([]byte{' '})
				b.sp = false
			}
			// A run without line ends or (relaxed) white space.
			j := i + 1
			for j < len(p) && p[j] != '\r' && p[j] != '\n' && !(b.relaxed && (p[j] == ' ' || p[j] == '\t')) {
				j++
			}
			b.put(p[i:j])
			i = j
		}
	}
	return len(p), nil
}

// Sum ends the body and returns its hash.
func (b *bodyHasher) Sum() []byte {
	if b.content {
		b.put([]byte("\r\n")) // a last line without its line end
	}
	if !b.wrote && !b.relaxed {
		b.put([]byte("\r\n")) // an empty simple body is one CRLF
	}
	b.h.Write(b.buf)
	b.buf = b.buf[:0]
	return b.h.Sum(nil)
}
