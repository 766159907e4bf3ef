package smtp

import (
	"errors"
	"net"
)

// The next hop of an outbound session is whoever a domain's MX names —
// for a bounce, whoever the sender's domain names — so its replies are
// input from outside like a client's commands. A reader of replies that
// grows its buffer until a line ends (net/textproto's, used for the
// greeting and the prelude's EHLO) or collects the lines of a reply until
// the last (textproto and go-smtp alike) lets a next hop that never ends
// a line, or never ends a reply, grow umbra's memory by the megabyte for
// every megabyte it sends, once per connection and again at every retry.
// replyLimitConn, under every reader of an outbound session's replies,
// counts the bytes of each line and of each reply and fails the read
// past the bounds below; the session then ends like any failed one (the
// message deferred 4.4.2 with the reason).
const (
	// maxReplyLine bounds one reply line, CRLF included. RFC 5321
	// 4.5.3.1.5 says 512; next hops write longer texts, so this leaves
	// room, like the bound of umbra's own shadow reply reader.
	maxReplyLine = 4096
	// maxReplyBytes bounds one reply, all its lines: the longest umbra
	// asks for is a discard query's list of ids (at most a few
	// thousand, 33 octets each).
	maxReplyBytes = 1 << 20
)

// Errors of a next hop's reply past the bounds.
var (
	ErrReplyLineTooLong = errors.New("reply line too long")
	ErrReplyTooLong     = errors.New("reply too long")
)

// replyLimitConn is a connection whose reads fail once a reply line or a
// reply passes its bound. It follows reply boundaries byte by byte: a
// line whose fourth octet is '-' continues its reply, any other line
// ends it. Bytes are passed on as read; only the bound is enforced, so
// the readers above keep their own parsing.
type replyLimitConn struct {
	net.Conn
	line  int   // octets of the current line so far
	reply int   // octets of the current reply so far
	cont  bool  // the current line's fourth octet is '-'
	err   error // the bound passed: every later read fails with it
}

func newReplyLimitConn(c net.Conn) *replyLimitConn { return &replyLimitConn{Conn: c} }

func (r *replyLimitConn) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.Conn.Read(b)
	for i, c := range b[:n] {
		r.line++
		r.reply++
		if r.line == 4 {
			r.cont = c == '-'
		}
		if r.line > maxReplyLine {
			r.err = ErrReplyLineTooLong
		} else if r.reply > maxReplyBytes {
			r.err = ErrReplyTooLong
		}
		if r.err != nil {
			// The bytes of this read up to the bound are handed on; the
			// reader above sees the error at its next read.
			if i == 0 {
				return 0, r.err
			}
			return i, nil
		}
		if c == '\n' {
			if !r.cont {
				r.reply = 0
			}
			r.line, r.cont = 0, false
		}
	}
	return n, err
}
