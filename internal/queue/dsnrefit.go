package queue

import (
	"bytes"
	"fmt"
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
// whole message, so it is never made again for that. Where the refusal names the
// limit and the size it held to it (routing's caps, the next hop's SIZE:
// wayBackExcess), the header section returned is cut at a field
// boundary so the DSN made again fits: a message of header fields alone
// near the limit has a header section as large as the whole (dsnfit42);
// a DSN that returned the headers only from the first (RET=HDRS, no
// RET, bounce_size_limit) is made again so too, each time smaller.
// Only a refusal that names no limit (a remote's 552 after the data)
// can refuse the DSN made again: then the bounce is lost (WARN,
// bounce-lost).
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
	most := int64(0)
	if excess := wayBackExcess(m.Rcpts[failed[0]].LastReply); excess > 0 {
		if most = int64(len(whole)) - excess; most <= 0 {
			return failed, nil, nil
		}
	}
	db, ok := headersOnlyDSN(whole, most)
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

// wayBackExcess is by how many bytes the message a refusal for its size
// names is over the limit it names: routing's "552 5.3.4 message of N
// bytes exceeds the limit of L bytes …", a send connector's own
// max_message_size, "552 5.3.4 message size N exceeds the limit L of
// send connector C" (a single server's, no topology: delivery's group),
// and a next hop's SIZE, "552 5.3.4 H takes messages of at most L bytes
// (its SIZE), this one is N bytes". Both sizes are held alike (the
// stored size, or both without the trace allowance: planSize), so N-L
// is what the DSN made again must lose. 0 when the reply names no such
// pair.
func wayBackExcess(reply string) int64 {
	var n, l int64
	if _, after, ok := strings.Cut(reply, " message of "); ok {
		if _, err := fmt.Sscanf(after, "%d bytes exceeds the limit of %d bytes", &n, &l); err != nil {
			return 0
		}
	} else if _, after, ok := strings.Cut(reply, " message size "); ok {
		if _, err := fmt.Sscanf(after, "%d exceeds the limit %d of ", &n, &l); err != nil {
			return 0
		}
	} else if _, after, ok := strings.Cut(reply, " takes messages of at most "); ok {
		if _, err := fmt.Sscanf(after, "%d bytes (its SIZE), this one is %d bytes", &l, &n); err != nil {
			return 0
		}
	} else {
		return 0
	}
	if l <= 0 || n <= l {
		return 0
	}
	return n - l
}

// headersOnlyDSN rewrites a DSN buildDSN wrote with the whole message
// (message/rfc822 or message/global) into one that returns the
// message's header section only, labelled as buildDSN labels it, and
// says so in its human-readable part. most > 0 caps the DSN's size: the
// header section is cut at the last field boundary that keeps it within
// most (cutFields), and the text says so. false when body is no such
// DSN, or not even its frame fits in most.
func headersOnlyDSN(body []byte, most int64) ([]byte, bool) {
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
	// was: buildDSN's intro line; is: what the DSN made again says
	// instead, the notes following; first: the note of a DSN that
	// returned the whole message.
	const whole, section = "It is attached below; the reasons follow.\r\n", "Its header section is attached below; the reasons follow.\r\n"
	was, first := whole, refitNote+"\r\n"
	switch {
	case bytes.HasPrefix(part, []byte("Content-Type: message/rfc822\r\nContent-Description: Undelivered message\r\n\r\n")):
		newHead = "Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\n\r\n"
	case bytes.HasPrefix(part, []byte("Content-Type: message/global\r\nContent-Description: Undelivered message\r\n\r\n")):
		newHead = "Content-Type: message/global-headers\r\nContent-Description: Undelivered message headers\r\n\r\n"
	case most > 0 && (bytes.HasPrefix(part, []byte("Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\n\r\n")) ||
		bytes.HasPrefix(part, []byte("Content-Type: message/global-headers\r\nContent-Description: Undelivered message headers\r\n\r\n"))):
		// A DSN that returned the headers only (RET=HDRS, no RET, or
		// over bounce_size_limit) of a message whose header section is
		// most of it: only a cut to the limit named makes it smaller.
		newHead, was, first = string(part[:bytes.Index(part, []byte("\r\n\r\n"))+4]), section, ""
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
	// The intro line is as buildDSN wrote it, in 7-bit ASCII; the notes
	// are too.
	build := func(h []byte, note string) []byte {
		front := front
		if i := strings.Index(front, was); i >= 0 && note != "" {
			front = front[:i] + section + "\r\n" + note + front[i+len(was):]
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
		return b.Bytes()
	}
	out := build(h, first)
	if first != "" && (most <= 0 || int64(len(out)) <= most) {
		return out, true
	}
	note := first + refitCutNote + "\r\n"
	// frame: the DSN with no field returned, which still ends its empty
	// section with a line break a section of whole fields brings itself.
	frame := int64(len(build(nil, note)))
	if frame > most {
		return nil, false
	}
	return build(cutFields(h, most-frame+2), note), true
}

// refitCutNote is what a DSN made again (refitDSN) whose returned
// header section had to be cut to fit the way back adds.
const refitCutNote = "Even the header section was too large for the way back; it is cut at a field boundary."
