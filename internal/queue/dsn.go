package queue

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// BuildDSN writes an RFC 3464 delivery status notification about the
// recipients m.Rcpts[rcpts] of kind failed, delayed or delivered. It
// carries the original headers (RFC 3462 text/rfc822-headers), or the
// whole message when the sender asked RET=FULL. For SMTPUTF8 messages it
// uses the RFC 6533 global types.
//
// returnLimit (bytes; 0 or less: none) caps the returned content, as
// Postfix's bounce_size_limit: a RET=FULL message bigger than it comes
// back as its headers only, and a header section bigger than it is cut
// at a field boundary. Otherwise anyone could make umbra reflect
// megabytes of their text to a forged sender address.
func BuildDSN(reportingMTA string, m *Message, body []byte, kind Notify, rcpts []int, now, retryUntil time.Time, id ID, returnLimit int64) []byte {
	boundary := fmt.Sprintf("%s.%d/%s", id, now.Unix(), reportingMTA)
	subject, action, intro := "Undelivered Mail Returned to Sender", "failed",
		"Your message could not be delivered to one or more recipients.\r\nIt is attached below; the reasons follow.\r\n"
	switch kind {
	case NotifyDelay:
		subject, action = "Delayed Mail (still being retried)", "delayed"
		intro = fmt.Sprintf("Your message has not been delivered yet to the recipients below.\r\n"+
			"umbra keeps trying until %s; you need not send it again.\r\n",
			retryUntil.Format(time.RFC1123Z))
	case NotifySuccess:
		subject, action = "Successful Mail Delivery Report", "delivered"
		intro = successIntro(m, rcpts)
	}
	statusType, headersType := "message/delivery-status", "text/rfc822-headers"
	if m.UTF8 {
		statusType, headersType = "message/global-delivery-status", "message/global-headers"
	}
	// RFC 8689 §5: a REQUIRETLS message's DSN returns its headers only,
	// whatever RET says.
	original, full, capped := returnedContent(body, m.RetFull && kind == NotifyFailure && !m.RequireTLS, returnLimit)
	description := "Undelivered message headers"
	if full {
		original, headersType, description = body, "message/rfc822", "Undelivered message"
		if m.UTF8 {
			headersType = "message/global"
		}
	}

	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", reportingMTA)
	w("To: <%s>", m.From)
	w("Subject: %s", subject)
	w("Date: %s", now.Format(time.RFC1123Z))
	w("Message-ID: <%s.dsn@%s>", id, reportingMTA)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("This is a MIME-encapsulated message.")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Description: Notification")
	w("")
	b.WriteString("This is the mail system at " + reportingMTA + ".\r\n\r\n" + intro + "\r\n")
	if capped != "" {
		b.WriteString(capped + "\r\n\r\n")
	}
	for _, i := range rcpts {
		r := m.Rcpts[i]
		w("<%s>: %s", r.Addr, oneLine(r.LastReply))
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: %s", statusType)
	w("Content-Description: Delivery report")
	w("")
	w("Reporting-MTA: dns; %s", reportingMTA)
	w("X-Umbra-Queue-ID: %s", m.ID)
	if m.EnvID != "" {
		w("Original-Envelope-Id: %s", oneLine(m.EnvID))
	}
	w("Arrival-Date: %s", m.Arrived.Format(time.RFC1123Z))
	for _, i := range rcpts {
		r := m.Rcpts[i]
		w("")
		w("Final-Recipient: rfc822; %s", r.Addr)
		if r.ORcpt != "" {
			w("Original-Recipient: %s", oneLine(r.ORcpt))
		}
		w("Action: %s", dsnAction(kind, r, action))
		w("Status: %s", statusOf(r.LastReply, kind))
		if host := dsnRemoteMTA(r); host != "" {
			w("Remote-MTA: dns; %s", host)
		}
		if r.LastReply != "" {
			w("Diagnostic-Code: smtp; %s", oneLine(r.LastReply))
		}
		if kind == NotifyDelay {
			w("Will-Retry-Until: %s", retryUntil.Format(time.RFC1123Z))
		}
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: %s", headersType)
	w("Content-Description: %s", description)
	w("")
	b.Write(original)
	if !bytes.HasSuffix(original, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	w("")
	w("--%s--", boundary)
	return b.Bytes()
}

// returnedContent picks what a DSN returns: the whole body when full is
// asked and it fits in limit, else the header section, cut at the last
// field boundary within limit. note tells the reader what was left out.
func returnedContent(body []byte, full bool, limit int64) (content []byte, isFull bool, note string) {
	if full && (limit <= 0 || int64(len(body)) <= limit) {
		return body, true, ""
	}
	if full {
		note = fmt.Sprintf("The message was larger than %d bytes; only its headers are returned.", limit)
	}
	h := headersOf(body)
	if limit <= 0 || int64(len(h)) <= limit {
		return h, false, note
	}
	cut := 0
	for i := 0; i+2 < len(h) && int64(i+2) <= limit; i++ {
		if h[i] == '\r' && h[i+1] == '\n' && h[i+2] != ' ' && h[i+2] != '\t' {
			cut = i + 2 // a new field starts at i+2
		}
	}
	return h[:cut], false, fmt.Sprintf("The message's header section was larger than %d bytes; it is cut.", limit)
}

// headersOf returns the header section of a message, through its
// terminating empty line.
func headersOf(body []byte) []byte {
	if i := bytes.Index(body, []byte("\r\n\r\n")); i >= 0 {
		return body[:i+2]
	}
	return body
}

// statusOf picks the RFC 3463 status of a recipient from its last reply
// ("550 5.1.1 …" gives 5.1.1), falling back to the reply class.
func statusOf(reply string, kind Notify) string {
	if kind == NotifySuccess {
		return "2.0.0"
	}
	f := strings.Fields(reply)
	if len(f) >= 2 && isStatusCode(f[1]) {
		return f[1]
	}
	if len(f) >= 1 && len(f[0]) == 3 && (f[0][0] == '4' || f[0][0] == '5') && kind == NotifyFailure {
		return f[0][:1] + ".0.0"
	}
	if kind == NotifyDelay {
		return "4.0.0"
	}
	return "5.0.0"
}

func isStatusCode(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || len(p[0]) != 1 || (p[0][0] != '2' && p[0][0] != '4' && p[0][0] != '5') {
		return false
	}
	for _, x := range p[1:] {
		if x == "" || len(x) > 3 || strings.Trim(x, "0123456789") != "" {
			return false
		}
	}
	return true
}

// remoteMTA strips the port and address decoration from a next hop.
func remoteMTA(hop string) string {
	if hop == "" || hop == "maildir" || hop == "lmtp" {
		return ""
	}
	if i := strings.IndexAny(hop, "[:"); i > 0 {
		return hop[:i]
	}
	return hop
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
