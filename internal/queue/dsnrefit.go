package queue

import (
	"bytes"
	"strings"
	"time"
)

// refitNote is what a DSN sent again with the headers only (refitDSN)
// tells its reader.
const refitNote = "The report with the whole message was too large for the way back to you; only its headers are returned."

// refitDSN: a DSN of this server's that returned the whole message and
// was refused on the way back as too big (a site link's or connector's
// cap, the next hop's SIZE: tooBigReply) is made again with the
// original's headers only (text/rfc822-headers), as a message over
// bounce_size_limit comes back, and sent in the same commit that fails
// the first (rt21d M1). It returns the recipients of failed that stay
// lost and the DSN made again (nil when none is). The new DSN keeps the
// first's arrival (its expiry is not renewed) and its Message-ID;
// finish moves the discard it carried to it, and the recipients of a
// copy elsewhere that the first reported (moveReported: its departure
// owes their partial discard). One made again returns no
// whole message, so it is never made again: if even it does not fit,
// the bounce is lost (WARN, bounce-lost).
func refitDSN(m *Message, body Body, failed []int, newID func() ID, now time.Time) ([]int, *Message, []byte) {
	if !m.OwnDSN() || len(m.Rcpts) != 1 || len(failed) != 1 || !tooBigReply(m.Rcpts[failed[0]].LastReply) {
		return failed, nil, nil
	}
	whole := body.Head()
	if body.Spooled() {
		var err error
		if whole, err = body.Bytes(); err != nil {
			return failed, nil, nil
		}
	}
	db, ok := headersOnlyDSN(whole)
	if !ok {
		return failed, nil, nil
	}
	rc := m.Rcpts[failed[0]]
	dm := &Message{ID: newID(), State: Ready, Arrived: m.Arrived, NextAttempt: now, Connector: "dsn", Internal: true,
		MessageID: m.MessageID, ReportOn: m.ReportOn, ReportOnMessageID: m.ReportOnMessageID, UTF8: m.UTF8, RequireTLS: m.RequireTLS,
		Size: int64(len(db)), Rcpts: []Recipient{{Addr: rc.Addr, Notify: NotifyNever, ORcpt: rc.ORcpt}}}
	return nil, dm, db
}

// tooBigReply: the reply refuses a message for its size — 552 or an
// enhanced status of X.3.4 (too big for the system) or X.2.3 (over the
// mailbox's or an administrative limit), as routing's caps, a send
// connector's and a next hop's SIZE answer.
func tooBigReply(reply string) bool {
	code, rest, _ := strings.Cut(reply, " ")
	enh, _, _ := strings.Cut(rest, " ")
	if len(enh) >= 5 && (enh[0] == '4' || enh[0] == '5') && enh[1] == '.' {
		if s := enh[2:]; s == "3.4" || s == "2.3" {
			return true
		}
	}
	return code == "552"
}

// headersOnlyDSN rewrites a DSN buildDSN wrote with the whole message
// (message/rfc822 or message/global) into one that returns the
// message's header section only, labelled as buildDSN labels it, and
// says so in its human-readable part. false when body is no such DSN.
func headersOnlyDSN(body []byte) ([]byte, bool) {
	head := headersOf(body)
	_, after, ok := bytes.Cut(head, []byte("boundary=\""))
	if !ok {
		return nil, false
	}
	boundary, _, ok := bytes.Cut(after, []byte("\""))
	if !ok || len(boundary) == 0 {
		return nil, false
	}
	delim := "\r\n--" + string(boundary) + "\r\n"
	last := bytes.LastIndex(body, []byte(delim))
	if last < 0 {
		return nil, false
	}
	part := body[last+len(delim):]
	var newHead string
	switch {
	case bytes.HasPrefix(part, []byte("Content-Type: message/rfc822\r\nContent-Description: Undelivered message\r\n\r\n")):
		newHead = "Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\n\r\n"
	case bytes.HasPrefix(part, []byte("Content-Type: message/global\r\nContent-Description: Undelivered message\r\n\r\n")):
		newHead = "Content-Type: message/global-headers\r\nContent-Description: Undelivered message headers\r\n\r\n"
	default:
		return nil, false
	}
	returned := part[bytes.Index(part, []byte("\r\n\r\n"))+4:]
	end := bytes.LastIndex(returned, []byte("\r\n--"+string(boundary)+"--"))
	if end < 0 {
		return nil, false
	}
	returned = returned[:end]
	h := headersOf(returned)
	front := string(body[:last])
	// The human-readable part is 7-bit ASCII here (a DSN that returns
	// the whole message returns no 8-bit text): its intro line is as
	// buildDSN wrote it.
	const was = "It is attached below; the reasons follow.\r\n"
	if i := strings.Index(front, was); i >= 0 {
		front = front[:i] + "Its header section is attached below; the reasons follow.\r\n\r\n" + refitNote + "\r\n" + front[i+len(was):]
	}
	var b bytes.Buffer
	b.WriteString(front)
	b.WriteString(delim)
	b.WriteString(newHead)
	b.Write(h)
	if !bytes.HasSuffix(h, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n--" + string(boundary) + "--\r\n")
	return b.Bytes(), true
}
