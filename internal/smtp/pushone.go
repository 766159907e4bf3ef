package smtp

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// A copy on receipt in one round trip (version 5 of the shadow verbs).
// The primary writes MAIL FROM (with XSHADOWCOPY=), every RCPT TO and
// "BDAT <n> LAST" followed by the n octets of the copy, all at once, and
// then reads the replies in order — MAIL, each RCPT, BDAT — which the
// peer sends in one write (replyhold.go). The body goes before the
// recipients' replies are seen, so the peer keeps the copy only when
// every command of the transaction was accepted (version 5's rule,
// replyCopyPartial): any refusal refuses the whole copy, and the
// primary takes the first refusal as the reason. A peer below version 5,
// or without PIPELINING or CHUNKING, gets the DATA form (pushCopy).
//
// The one-write form is used for a body in memory that is already what
// the DATA form delivers after the peer unstuffs it (no bare CR or LF,
// ending in CRLF: every body umbra received by SMTP), so both forms
// keep the same bytes; any other body, and a spooled one (its size is
// known but not its last bytes), goes by DATA.

// oneTripLen returns the length of the copy made of parts when it can go
// by BDAT unchanged (see above).
func oneTripLen(parts [][]byte) (int, bool) {
	n := 0
	var end [2]byte // the last two bytes of the whole
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if bareNewline(p) != 0 {
			return 0, false
		}
		n += len(p)
		if len(p) >= 2 {
			end = [2]byte{p[len(p)-2], p[len(p)-1]}
		} else {
			end = [2]byte{end[1], p[0]}
		}
	}
	if n < 2 || end != [2]byte{'\r', '\n'} {
		// An empty body, or one whose last line has no CRLF (it would
		// get one by DATA). A part holds whole lines but the last, so
		// a CR at the end of one part and a LF at the start of the next
		// cannot be (orgid.PartsRecord cuts after a line feed), and
		// bare CR and LF are found part by part.
		return 0, false
	}
	return n, true
}

// canPushOneTrip: the peer keeps copies all or nothing (version 5) and
// takes pipelined commands and BDAT.
func (c *Client) canPushOneTrip() bool {
	if c.ShadowVersion < 5 || !c.CanPipeline() {
		return false
	}
	ok, _ := c.Extension("CHUNKING")
	return ok
}

// pushOneTrip is PushCopy in one round trip: size is oneTripLen(parts).
func (c *Client) pushOneTrip(m *queue.Message, opts *gosmtp.MailOptions, parts [][]byte, size int) error {
	c.sc.startCapture()
	if err := c.Mail(m.From, opts); err != nil {
		// go-smtp refused to format it: nothing was sent.
		c.sc.stopCapture()
		c.sc.mailParam, c.sc.copyParam, c.sc.copyMark = "", "", 0
		return err
	}
	dsn, _ := c.Extension("DSN")
	for k := range m.Rcpts {
		r := &m.Rcpts[k]
		ro := RcptOptionsOf(r) // its DSN parameters too: a takeover answers the sender by them
		if line, ok := appendRcptLine(c.sc.captured, r.Addr, ro, dsn); ok {
			c.sc.captured = line // go-smtp's line, without its round (rcptline.go)
		} else if err := c.Rcpt(r.Addr, ro); err != nil {
			c.sc.stopCapture() // nothing was sent: no copy without this recipient
			return err
		}
	}
	group := c.sc.stopCapture()
	group = append(append(append(group, "BDAT "...), strconv.Itoa(size)...), " LAST\r\n"...)
	conn := c.sc.Conn
	defer conn.SetDeadline(time.Time{})
	// The group's writes are bounded by progress, and the replies'
	// wait by data_timeout after the last progress, as delivery's body
	// (bodywatch.go): a large copy to a slow but steady peer goes on.
	watch := watchBody(conn, c.CommandTimeout)
	defer watch.stop()
	fail := func(err error) error {
		conn.Close() // out of step: never used again
		return err
	}
	c.dataSent = true // the copy's octets go in the envelope's write
	if err := writeGroup(watch, group, parts); err != nil {
		return fail(err)
	}
	watch.awaitReply(c.SubmissionTimeout)
	replied := c.awaitingReply()
	defer replied()
	br := c.sc.replies()
	var refused, mailRefused error
	for k := 0; k < len(m.Rcpts)+2; k++ { // MAIL, each RCPT, BDAT
		cmd := "RCPT"
		switch k {
		case 0:
			cmd = "MAIL"
		case len(m.Rcpts) + 1:
			cmd = "BDAT"
		}
		wait := c.CommandTimeout // each envelope reply its own (README, command_timeout)
		if cmd == "BDAT" {
			wait = c.SubmissionTimeout // the reply to the body: the copy made durable
		}
		watch.waitAtLeast(wait) // and data_timeout after the peer last took a byte of the body
		err := replyErr(br, cmd)
		if err != nil && !isReply(err) {
			if mailRefused != nil {
				// MAIL was refused (a 421 as the server stops, then
				// its close): no transaction there, nothing of the
				// copy kept — the refusal says so, not the reply lost
				// after it (rcpt43 item 2).
				return fail(errors.Join(mailRefused, err))
			}
			return fail(lostAfterWholeWrite(err, cmd, k == 0))
		}
		if refused == nil {
			refused = err
		}
		if k == 0 {
			mailRefused = err
		}
	}
	watch.stop() // every reply read: the RSET below has its own deadline
	if br.Buffered() > 0 {
		return fail(fmt.Errorf("%d unexpected bytes after the last reply", br.Buffered()))
	}
	if refused == nil {
		c.txnOpen = false // BDAT LAST taken: the transaction ended
	}
	if refused != nil {
		// A MAIL taken with every recipient refused leaves the
		// transaction open at the peer (its BDAT was refused without
		// one): RSET, so that the session takes the next copy.
		if err := c.Rset(); err != nil && !isReply(err) {
			return errors.Join(refused, err)
		}
	}
	return refused
}
