package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Outbound command pipelining (RFC 2920). When the server advertises
// PIPELINING, MAIL FROM, every RCPT TO and DATA go out in one write and
// their replies are read afterwards in order: one round trip instead of
// 2 + recipients before the body. DATA is the last command of the group
// (it is a synchronisation point: the body waits for its 354). The
// command lines are go-smtp's own (its parameter rules: SIZE, BODY,
// SMTPUTF8, DSN, AUTH=) with umbra's shadow parameters added: go-smtp
// formats them against a capturing shadowConn that answers each with a
// 250 of its own, so nothing reaches the wire before the group is whole.
// The usual RCPT TO lines skip that round: appendRcptLine (rcptline.go)
// writes go-smtp's bytes straight into the capture. A server without
// PIPELINING keeps lock-step commands (transaction.go, PushCopy).

// Recipient is one RCPT TO of a pipelined transaction.
type Recipient struct {
	Addr string
	Opts *gosmtp.RcptOptions
}

// Pipelined is what one pipelined transaction came to.
type Pipelined struct {
	// Mail is the reply to MAIL FROM (nil: accepted). When it is an
	// error nothing was delivered and the recipients' replies say
	// nothing of their own.
	Mail error
	// Rcpts holds one reply per recipient in order (nil: accepted);
	// shorter than the recipients when the connection broke first.
	// A recipient go-smtp could not even format has its local error.
	Rcpts []error
	// Data is the reply to DATA when it was refused (all recipients
	// refused, or the server refused the transaction).
	Data error
	// Final is the replies to the end of the message: one for SMTP, one
	// per accepted recipient for LMTP; fewer when the connection broke.
	Final []DataReply
	// Err is a break of the connection (a timeout, a close, a malformed
	// reply): the replies missing when it came were never read, and the
	// session must not be used again.
	Err error
}

// Rset sends RSET without touching go-smtp's state (go-smtp's Reset
// makes it greet again before the next MAIL: a round trip more).
func (c *Client) Rset() error {
	_, err := c.command("RSET")
	if err == nil {
		c.txnOpen = false
	}
	return err
}

// TransactionOpen reports whether a MAIL this session sent may have
// opened a transaction at the peer that is not closed yet (txnOpen).
func (c *Client) TransactionOpen() bool { return c.txnOpen }

// Settle makes a session fit to carry the next message: a transaction
// left open at the peer (a DATA refused, a MAIL taken and every
// recipient refused) is ended with RSET. false: it could not be (the
// RSET refused or unanswered, or the session out of step: outOfStep),
// and the session must not be reused.
// Every pool of sessions calls it before it keeps one.
// The RSET's reply is awaited settleWait at most: a session whose peer
// is slow to answer it is closed, not waited for in a delivery's slot.
func (c *Client) Settle() bool {
	if c.outOfStep() {
		// Replies read ahead, cut or malformed: an RSET's reply could
		// not be told from them. Not reused (Alive says the same).
		return false
	}
	if !c.txnOpen {
		return true
	}
	if _, err := c.commandWithin("RSET", settleWait); err != nil {
		return false
	}
	c.txnOpen = false
	return true
}

// settleWait bounds Settle's RSET.
const settleWait = 2 * time.Second

// CanPipeline reports whether the server advertised PIPELINING.
func (c *Client) CanPipeline() bool {
	ok, _ := c.Extension("PIPELINING")
	return ok
}

// capture makes the shadowConn collect what go-smtp writes instead of
// sending it, answering each command with a 250 of its own.
func (s *shadowConn) startCapture() { s.capturing, s.captured, s.fake = true, s.captured[:0], nil }

func (s *shadowConn) stopCapture() []byte {
	s.capturing, s.fake = false, nil
	return s.captured
}

// captureWrite is Write while capturing: the command (with the shadow
// parameters added to MAIL) is kept, and a 250 is queued for go-smtp's
// reader.
func (s *shadowConn) captureWrite(b []byte) (int, error) {
	if !bytes.HasPrefix(b, []byte("MAIL FROM:")) && !bytes.HasPrefix(b, []byte("RCPT TO:")) {
		// Anything else go-smtp sends first (its EHLO again after a
		// go-smtp Reset) is a real command with a real reply.
		return s.Conn.Write(b)
	}
	s.captured = append(s.captured, s.withShadowParams(b)...)
	s.fake = append(s.fake, "250 2.0.0 captured\r\n"...)
	return len(b), nil
}

// Pipeline runs one transaction with PIPELINING (the caller checked
// CanPipeline): MAIL FROM, the RCPTs and DATA in one write; then, when
// at least one recipient was accepted and DATA answered 354, body with
// orgLine (a header line, may be empty) in front of it, and lmtp selects
// one final reply per accepted recipient. A MAIL refused by the server
// leaves the session usable (its RCPTs and DATA are refused in
// sequence); the caller sends RSET when no message was sent. A server
// that answers DATA with 354 all the same (or with no recipient
// accepted) gets no message data, no dot either: the connection is
// closed (Err), nothing delivered.
func (c *Client) Pipeline(from string, mo *gosmtp.MailOptions, rcpts []Recipient, parts [][]byte, lmtp bool) *Pipelined {
	return c.pipeline(from, mo, rcpts, parts, lmtp, false)
}

// pipeline is Pipeline; with whole, a message some recipient refused is
// not sent at all: a 354 then closes the connection (the only way to
// abandon a DATA the server opened) and Err says so.
func (c *Client) pipeline(from string, mo *gosmtp.MailOptions, rcpts []Recipient, parts [][]byte, lmtp, whole bool) *Pipelined {
	return c.pipelineStream(from, mo, rcpts, parts, nil, lmtp, whole)
}

// pipelineStream is pipeline with an optional tail read after the parts
// (PipelineStream, stream.go).
func (c *Client) pipelineStream(from string, mo *gosmtp.MailOptions, rcpts []Recipient, parts [][]byte, tail io.Reader, lmtp, whole bool) *Pipelined {
	out := &Pipelined{}
	sent := make([]bool, len(rcpts)) // whether the RCPT went on the wire
	c.sc.startCapture()
	if err := c.Mail(from, mo); err != nil {
		// go-smtp refused to format it (an unsupported SMTPUTF8, a bad
		// ENVID): nothing was sent.
		c.sc.stopCapture()
		c.sc.mailParam, c.sc.copyParam, c.sc.copyMark = "", "", 0
		out.Mail = err
		return out
	}
	dsn, _ := c.Extension("DSN")
	for k, r := range rcpts {
		if line, ok := appendRcptLine(c.sc.captured, r.Addr, r.Opts, dsn); ok {
			c.sc.captured = line // go-smtp's line, without its round (rcptline.go)
		} else if err := c.Rcpt(r.Addr, r.Opts); err != nil {
			out.Rcpts = append(out.Rcpts, err) // placeholder, kept below
			continue
		}
		sent[k] = true
		out.Rcpts = append(out.Rcpts, nil)
	}
	group := append(c.sc.stopCapture(), "DATA\r\n"...)
	conn := c.sc.Conn
	conn.SetDeadline(time.Now().Add(c.CommandTimeout))
	defer conn.SetDeadline(time.Time{})
	// Each reply of the group is awaited its own command_timeout, from
	// when umbra starts reading it: one deadline for the whole group gave
	// a next hop answering each of 8 RCPTs well within command_timeout
	// less than it, and deferred every recipient.
	next := func() { conn.SetReadDeadline(time.Now().Add(c.CommandTimeout)) }
	if _, err := conn.Write(group); err != nil {
		conn.Close()
		out.Rcpts, out.Err = nil, err
		return out
	}
	// The replies to the envelope and DATA are the next hop's time, up
	// to the 354 (SetAwaitReply).
	envelope := c.awaitingReply()
	defer envelope()
	// The session's reply reader: the server sends nothing unasked, so
	// after the last reply it holds no byte go-smtp's reader should have
	// had (checked at the end).
	br := c.sc.replies()
	local := out.Rcpts
	out.Rcpts = make([]error, 0, len(rcpts))
	fail := func(err error) *Pipelined {
		conn.Close()
		out.Err = err
		return out
	}
	next()
	if err := replyErr(br, "MAIL"); err != nil {
		if !isReply(err) {
			out.Rcpts = nil
			return fail(err)
		}
		out.Mail = err
		c.txnOpen = false // MAIL refused: no transaction (a settled session had none open before it)
	}
	if c.onReply != nil {
		c.onReply(-1, out.Mail) // SetOnReply: MAIL answered
	}
	accepted := 0
	for k := range rcpts {
		if !sent[k] {
			out.Rcpts = append(out.Rcpts, local[k])
			continue
		}
		next()
		err := replyErr(br, "RCPT")
		if err != nil && !isReply(err) {
			return fail(err)
		}
		if err == nil {
			accepted++
		}
		out.Rcpts = append(out.Rcpts, err)
		if c.onReply != nil {
			c.onReply(k, err) // SetOnReply: this RCPT answered, as it comes
		}
	}
	if c.inData != nil && out.Mail == nil && accepted > 0 {
		c.inData(out.Rcpts) // SetInData: the transaction is in the message data
	}
	next()
	code, texts, err := readReplyCode(br)
	if err != nil {
		return fail(replyTo("DATA", err))
	}
	if code < 400 && code != 354 {
		// Out of step (a 250 or a stray 3xx to DATA): no body goes,
		// the session ends, the recipients wait with umbra's reason.
		out.Data = c.unexpectedReply("DATA", code, texts)
		return fail(out.Data)
	}
	if code != 354 {
		out.Data = replyOf(code, texts)
		return c.settle(br, out)
	}
	if c.onGoAhead != nil {
		c.onGoAhead() // SetOnGoAhead: the host answered DATA
	}
	if whole && out.Mail == nil && accepted < len(rcpts) {
		return fail(errors.New("DATA abandoned: a recipient was refused"))
	}
	if out.Mail != nil || accepted == 0 {
		// A server that opened DATA without a transaction (its MAIL
		// refused, or answered out of step by a host still holding a
		// transaction of its own) or without a recipient (RFC 2920
		// §3.1). RFC 2920 would end it with a lone dot, but a dot ends
		// the data of whatever transaction the server holds: an empty
		// message delivered to recipients umbra never saw accepted. No
		// byte of message data is sent, the dot neither: the data is
		// abandoned the only way a 354 can be, by closing the
		// connection (the server discards a transaction whose data never
		// ended, RFC 5321 §4.1.1.4). Each recipient keeps MAIL's reply or
		// its own RCPT reply; the session is over, never pooled.
		if out.Mail == nil {
			out.Data = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1}, Message: "no valid recipients"}
		}
		return fail(errDataAbandoned)
	}
	if c.beforeBody != nil {
		if err := c.beforeBody(); err != nil {
			return fail(err) // no byte of the body sent: the next hop has no message (SetBeforeBody)
		}
	}
	if !c.beginBody() {
		return fail(errAborted) // no byte of the body sent: closed by AbortUnlessBodyBegun
	}
	c.dataSent = true
	envelope()                                 // writing the message is umbra's own work
	watch := watchBody(conn, c.CommandTimeout) // bodywatch.go: progress, not a deadline per write
	defer watch.stop()
	emit, flush := bodyWrites(watch, parts, tail)
	err = stuffBody(parts, tail, dataChunk, emit)
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fail(err)
	}
	watch.awaitReply(c.SubmissionTimeout) // the reply to the final dot
	n := 1
	if lmtp {
		n = accepted
	}
	replied := c.awaitingReply()
	defer replied()
	final, err := c.finalReplies(br, watch, nil, n)
	out.Final = final
	if err != nil {
		return fail(err)
	}
	return c.settle(br, out)
}

// errDataAbandoned is the break of a pipelined session whose server
// answered DATA with 354 for a transaction umbra had no recipient in (its
// MAIL not accepted, or every RCPT refused): the connection was closed
// with no message data sent (pipelineStream).
var errDataAbandoned = errors.New("DATA abandoned unsent: the server opened it with no transaction or recipient accepted; session closed")

// settle ends a pipelined transaction: bytes left in its reader are
// replies nobody asked for (the session is out of step) and close it.
func (c *Client) settle(br *bufio.Reader, out *Pipelined) *Pipelined {
	if br.Buffered() > 0 {
		c.sc.Conn.Close()
		out.Err = fmt.Errorf("%d unexpected bytes after the last reply", br.Buffered())
	}
	return out
}

// replyErr reads one reply, to cmd: nil for 2xx, a *gosmtp.SMTPError
// for 4xx and 5xx, another error, naming cmd (replyTo), when it could not
// be read or is a stray 3xx (the session is out of step).
func replyErr(br *bufio.Reader, cmd string) error {
	code, texts, err := readReplyCode(br)
	if err == nil {
		err = stray(code, texts)
	}
	if err != nil {
		return replyTo(cmd, err)
	}
	if code/100 == 2 {
		return nil
	}
	return replyOf(code, texts)
}

// replyOf is the reply umbra's own reader read (readReplyCode), code and
// the text of each line, as a *gosmtp.SMTPError with its enhanced
// status code parsed (parseSMTPError), as go-smtp's client gives every
// other reply: a reader that left it in the text made a 503 5.7.0 read
// as a 503 with no status — out of step (delivery's rule), not the
// refusal it is.
func replyOf(code int, texts []string) *gosmtp.SMTPError {
	return parseSMTPError(code, strings.Join(texts, "\n"))
}

// parseSMTPError gives a reply as go-smtp's client does (lines joined
// by "\n"): the enhanced status code split from the text when the first
// line has one, and taken off the following lines.
func parseSMTPError(code int, msg string) *gosmtp.SMTPError {
	se := &gosmtp.SMTPError{Code: code, Message: msg}
	f := strings.SplitN(msg, " ", 2)
	if len(f) != 2 {
		return se
	}
	parts := strings.Split(f[0], ".")
	if len(parts) != 3 {
		return se
	}
	var ec gosmtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return se
		}
		ec[i] = n
	}
	se.EnhancedCode = ec
	se.Message = strings.ReplaceAll(f[1], "\n"+f[0]+" ", "\n")
	return se
}

func isReply(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se)
}

// stuffParts is stuffChunks over a message given in parts (the
// organisation id line in front of a stored body, without copying the
// body): every part but the last must end with a line feed.
func stuffParts(parts [][]byte, chunk int, emit func([]byte) error) error {
	var nonEmpty [][]byte
	for _, p := range parts {
		if len(p) > 0 {
			nonEmpty = append(nonEmpty, p)
		}
	}
	switch len(nonEmpty) {
	case 0:
		return stuffChunks(nil, chunk, emit)
	case 1:
		return stuffChunks(nonEmpty[0], chunk, emit)
	}
	for _, p := range nonEmpty[:len(nonEmpty)-1] {
		if p[len(p)-1] != '\n' {
			return stuffChunks(bytes.Join(nonEmpty, nil), chunk, emit) // cannot cut there: one copy
		}
	}
	for k, p := range nonEmpty {
		if err := stuffPart(p, chunk, k == len(nonEmpty)-1, emit); err != nil {
			return err
		}
	}
	return nil
}
