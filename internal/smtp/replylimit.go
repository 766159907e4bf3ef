package smtp

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"

	gosmtp "github.com/emersion/go-smtp"
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
	ErrReplyMixedCodes  = errors.New("malformed reply: its lines have different codes")
)

// replyLimitConn is a connection whose reads fail once a reply line or a
// reply passes its bound. It follows reply boundaries byte by byte: a
// line whose fourth octet is '-' continues its reply, any other line
// ends it. Only the bound is enforced, so the readers above keep their
// own parsing.
//
// It hands on only finished lines (up to their LF): the octets of a
// line not finished yet are held until its end comes. A read that fails
// while a line is held (the step's deadline passed with "220 " of a
// greeting sent a byte at a time, the connection closed inside a line)
// fails with ErrReplyUnfinished wrapping the read's error, and so does
// every later read: the session is out of step and is not reused
// (Client.Alive). Handed on, the unfinished line was taken for a whole
// one — bufio's ReadLine, under net/textproto and go-smtp, returns what
// it has and drops the read's error — so "220 " passed for a greeting
// and EHLO went out at the deadline, "250 o" for an accepted MAIL, "25"
// for a malformed reply instead of the timeout it is (rt30d F2).
//
// It also ends a reply whose lines do not all carry its code (RFC 5321
// §4.2.1): net/textproto, under the greeting, the prelude's EHLO and
// every reply go-smtp waits for, takes a line with another code (or
// none) after a continuation line for more text and waits for a line
// with the first code — until the command timeout or maxReplyBytes. The
// line is handed on whole (umbra's own reader, readReplyCode, names it
// in its error) and the next read fails with ErrReplyMixedCodes.
type replyLimitConn struct {
	net.Conn
	line  int     // octets of the current line so far
	reply int     // octets of the current reply so far
	cont  bool    // the current line's fourth octet is '-'
	code  [3]byte // the first three octets of the reply's first line
	cur   [3]byte // the first three octets of the current line
	multi bool    // a line of the current reply continued it
	err   error   // the bound passed, or a read failed inside a line: every later read fails with it
	// held is what was read and not handed on yet: its first ready
	// octets are finished lines, the rest the current line so far.
	held  []byte
	ready int
	buf   []byte
	// pend is the error of a read that also ended the last line held
	// (none held unfinished): returned once those lines are handed on.
	pend error
	// broken is the first read or write of the connection that failed
	// (a deadline, a close, a reset): the reply a reader waited for
	// never came whole, or a command went out in part. The session is
	// out of step from then on (outOfStep): nothing more is said on it,
	// a QUIT neither (QuitBounded).
	broken error
}

// ErrReplyUnfinished is the error of a reply whose line the next hop did
// not finish before the read failed (its step's deadline, a close): it
// wraps the read's error (a timeout: os.ErrDeadlineExceeded).
var ErrReplyUnfinished = errors.New("reply line unfinished")

// unfinishedError is ErrReplyUnfinished with what the line held and the
// read's error.
type unfinishedError struct {
	held string
	err  error
}

func (e *unfinishedError) Error() string {
	held := e.held
	if len(held) > unfinishedShown {
		held = held[:unfinishedShown] + "..."
	}
	return fmt.Sprintf("%v (%+q received): %v", ErrReplyUnfinished, held, e.err)
}

func (e *unfinishedError) Is(t error) bool { return t == ErrReplyUnfinished }
func (e *unfinishedError) Unwrap() error   { return e.err } // a timeout stays one (errors.Is os.ErrDeadlineExceeded, net.Error)

// unfinishedShown bounds what an unfinished line shows of itself in the
// error (the next hop's text, quoted in ASCII).
const unfinishedShown = 64

func newReplyLimitConn(c net.Conn) *replyLimitConn { return &replyLimitConn{Conn: c} }

// outOfStep: a read of it failed inside a line or past a bound, or it
// holds octets of a line the readers above have not been given — what
// the next hop sends next is not the reply to a next command.
// A read or a write that failed (broken) puts it out of step too: a
// timeout while a reply was awaited leaves that reply to come later, in
// the place of the next command's.
func (r *replyLimitConn) outOfStep() bool { return r.err != nil || r.broken != nil || len(r.held) > 0 }

// Write is the connection's, a failure noted (broken).
func (r *replyLimitConn) Write(b []byte) (int, error) {
	n, err := r.Conn.Write(b)
	if err != nil && r.broken == nil {
		r.broken = err
	}
	return n, err
}

func (r *replyLimitConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for r.ready == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if err := r.pend; err != nil {
			r.pend = nil
			return 0, err
		}
		if r.buf == nil {
			r.buf = make([]byte, 4096)
		}
		n, err := r.Conn.Read(r.buf)
		r.take(r.buf[:n])
		if err != nil && r.broken == nil {
			r.broken = err
		}
		if err != nil && r.err == nil {
			switch {
			case len(r.held) > r.ready:
				r.err = &unfinishedError{held: string(r.held[r.ready:]), err: err}
			case r.ready == 0:
				return 0, err
			default:
				r.pend = err
			}
		}
	}
	n := copy(b, r.held[:r.ready])
	r.held = append(r.held[:0], r.held[n:]...)
	r.ready -= n
	return n, nil
}

// take follows the octets just read through the reply's lines and adds
// them to held; a finished line makes them ready. Past a bound, or after
// a line whose code differs from its reply's, it stops: r.err is set,
// and the octets after it are not kept.
func (r *replyLimitConn) take(p []byte) {
	for _, c := range p {
		r.line++
		r.reply++
		if r.line <= 3 {
			r.cur[r.line-1] = c
		}
		if r.line == 4 {
			r.cont = c == '-'
		}
		if r.line > maxReplyLine {
			r.err = ErrReplyLineTooLong
		} else if r.reply > maxReplyBytes {
			r.err = ErrReplyTooLong
		}
		if r.err != nil {
			// The lines finished before the bound are handed on; the
			// reader above sees the error at its next read.
			r.held = r.held[:r.ready]
			return
		}
		r.held = append(r.held, c)
		if c == '\n' {
			r.ready = len(r.held)
			if r.line < 3 {
				copy(r.cur[r.line-1:], "\x00\x00\x00") // a short line has no code
			}
			mixed := false
			if !r.multi {
				r.code = r.cur
			} else if r.cur != r.code {
				mixed = true
			}
			r.multi = r.cont && !mixed
			if !r.cont || mixed {
				r.reply = 0
			}
			r.line, r.cont = 0, false
			if mixed {
				// The line is handed on whole; the reader above sees the
				// error at its next read.
				r.err = ErrReplyMixedCodes
				return
			}
		}
	}
}

// replyTo names the command whose reply could not be read — past a
// bound, malformed, cut off, timed out — "reply to RCPT: reply too
// long", so that the reason a message waits says which reply broke. A
// reply (*gosmtp.SMTPError) and nil are returned as they are.
func replyTo(cmd string, err error) error {
	if err == nil || isReply(err) {
		return err
	}
	return fmt.Errorf("reply to %s: %w", cmd, err)
}

// badReply reports whether err is a reply go-smtp could not take: past
// the bounds above, lines with different codes, a line past go-smtp's
// own bound or one textproto cannot parse. go-smtp returns these from a
// command as they are; the caller names the command (replyTo). Errors
// before anything was sent (an option the server lacks) are not.
func badReply(err error) bool {
	var pe textproto.ProtocolError
	return errors.Is(err, ErrReplyLineTooLong) || errors.Is(err, ErrReplyTooLong) ||
		errors.Is(err, ErrReplyMixedCodes) || errors.Is(err, gosmtp.ErrTooLongLine) || errors.As(err, &pe)
}
