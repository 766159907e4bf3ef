package delivery

import (
	"context"
	"io"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// What a next hop may be sent (RFC 6152, RFC 6531 §3.2). umbra does not
// convert a message to 7 bit: a conversion would break every DKIM
// signature made before it, and a message is sent as it was received.
// Instead the hop is refused, per hop:
//   - a message needs SMTPUTF8 at a hop only for what it holds that
//     is not ASCII (RFC 6531 §3.2; Postfix's smtputf8_autodetect): its
//     envelope sender (every recipient fails, 553 5.6.7), a recipient of
//     the transaction (that recipient fails, 553 5.6.7, and the ASCII
//     recipients of the message go in a transaction without SMTPUTF8:
//     utf8Rcpts, transactionOnce), or — for a message received with
//     SMTPUTF8 — non-ASCII bytes in its header section (every recipient
//     fails, 550 5.6.7). Each refusal is one text (queue/utf8reply.go)
//     in the result, the logs, queue show and the DSN;
//   - a message whose content holds any byte above 127 (BODY=8BITMIME or
//     not) goes only to a hop that offers 8BITMIME or SMTPUTF8 (which
//     implies 8BITMIME, RFC 6531 §3.1): else 550 5.6.3.
//
// A message received with BODY=8BITMIME or SMTPUTF8 whose bytes are all
// ASCII goes anywhere: nothing in it needs the extension. The content is
// read only for a hop that lacks an extension.

// contentSeam, when set (tests only), runs as contentRefusal begins.
var contentSeam func(hop string)

// contentRefusal is the reply with which m (parts, then the tail of a
// spooled body in ctx) must not be sent to the next hop c for the
// recipients rcpts, or "" when it may: over the hop's SIZE
// (hopSizeRefusal), or content it lacks an extension for. A tail that cannot be read gives
// err.
func contentRefusal(ctx context.Context, c *smtp.Client, hop string, m *queue.Message, parts [][]byte, rcpts []int) (string, error) {
	if contentSeam != nil {
		contentSeam(hop)
	}
	if reply := hopSizeRefusal(ctx, c, hop, parts, m.Size); reply != "" { // its SIZE (size.go)
		return reply, nil
	}
	utf8, _ := c.Extension("SMTPUTF8")
	if utf8 {
		return "", nil
	}
	if !asciiText(m.From) {
		return queue.ReplySenderNeedsSMTPUTF8, nil
	}
	if need, _ := utf8Rcpts(m, rcpts); len(need) == len(rcpts) && len(rcpts) > 0 {
		// Every one needs it: this host takes none of them (another
		// host of the destination may). Some do, some not: the
		// transaction sends the ASCII ones and fails the others
		// (transactionOnce).
		return queue.ReplyRcptNeedsSMTPUTF8, nil
	}
	eight, _ := c.Extension("8BITMIME")
	if eight && !m.UTF8 {
		return "", nil
	}
	var s eightBitScan
	for _, p := range parts {
		s.write(p)
	}
	if !s.done(eight) {
		tail, _, closeTail, err := openTail(ctx)
		if err != nil {
			return "", err
		}
		defer closeTail()
		if tail != nil {
			buf := make([]byte, 32<<10)
			for !s.done(eight) {
				n, err := tail.Read(buf)
				s.write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					return "", err
				}
			}
		}
	}
	switch {
	case m.UTF8 && s.header8:
		return queue.ReplyHeadersNeedSMTPUTF8, nil
	case !eight && (s.header8 || s.body8):
		return "550 5.6.3 " + hop + " does not support 8BITMIME, and the message has 8-bit content", nil
	}
	return "", nil
}

// declaresEightBit says whether the MAIL of m to c declares
// BODY=8BITMIME (RFC 6152; smtp.Client.Mail takes it out otherwise): only
// to a hop that offers 8BITMIME, and only for a message that is 8-bit —
// received with BODY=8BITMIME (umbra never converts it), or with a byte
// above 127 in its content (mail received without the parameter that
// has one anyway, a DSN of umbra's quoting such a header field). A 7-bit
// message, umbra's own 7-bit DSNs among them, goes without it. The
// content (parts, then the tail of a spooled body in ctx) is read only
// for a message received without the parameter, up to its first 8-bit
// byte.
func declaresEightBit(ctx context.Context, c *smtp.Client, m *queue.Message, parts [][]byte) (bool, error) {
	if ok, _ := c.Extension("8BITMIME"); !ok {
		return false, nil
	}
	if m.EightBit {
		return true, nil
	}
	var s eightBitScan
	for _, p := range parts {
		s.write(p)
	}
	if !s.done(false) {
		tail, _, closeTail, err := openTail(ctx)
		if err != nil {
			return false, err
		}
		defer closeTail()
		if tail != nil {
			buf := make([]byte, 32<<10)
			for !s.done(false) {
				n, err := tail.Read(buf)
				s.write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					return false, err
				}
			}
		}
	}
	return s.header8 || s.body8, nil
}

// eightBitScan finds bytes above 127 in a message given in pieces: in
// its header section (up to the first empty line) and in its body.
type eightBitScan struct {
	inBody    bool
	lineEmpty bool // nothing but CR seen on the current line
	started   bool
	header8   bool
	body8     bool
}

// done reports whether what is still unread cannot change the answer:
// eight: the hop takes 8-bit content.
func (s *eightBitScan) done(eight bool) bool {
	// header8 decides alone: a refusal by 5.6.7 (utf8) or 5.6.3 (the
	// scan runs only for utf8 or a hop without 8BITMIME).
	return s.header8 || s.inBody && (eight || s.body8)
}

func (s *eightBitScan) write(p []byte) {
	if !s.started {
		s.started, s.lineEmpty = true, true
	}
	for i := 0; i < len(p); i++ {
		if s.inBody {
			s.body8 = s.body8 || queue.Has8bit(p[i:])
			return
		}
		switch b := p[i]; {
		case b == '\n':
			if s.lineEmpty {
				s.inBody = true // the empty line that ends the header section
			}
			s.lineEmpty = true
		case b == '\r':
		default:
			s.lineEmpty = false
			if b >= 0x80 {
				s.header8 = true
			}
		}
	}
}

// utf8Rcpts splits rcpts of m into those whose address is not ASCII
// (need: a hop must offer SMTPUTF8 to take them) and the others.
func utf8Rcpts(m *queue.Message, rcpts []int) (need, rest []int) {
	for _, i := range rcpts {
		if asciiText(m.Rcpts[i].Addr) {
			rest = append(rest, i)
		} else {
			need = append(need, i)
		}
	}
	return need, rest
}

// utf8Elsewhere returns the recipients among rcpts that the host of c
// cannot take for want of SMTPUTF8 while it takes the others: none when
// it offers SMTPUTF8, when the sender needs it (contentRefusal refuses
// them all), or when every recipient needs it (passed over, likewise).
// An MX or smart-host attempt sends the others there and these to the
// next hosts (deliverRemote).
func utf8Elsewhere(c *smtp.Client, m *queue.Message, rcpts []int) []int {
	if ok, _ := c.Extension("SMTPUTF8"); ok || !asciiText(m.From) {
		return nil
	}
	need, rest := utf8Rcpts(m, rcpts)
	if len(rest) == 0 {
		return nil
	}
	return need
}

func asciiText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
