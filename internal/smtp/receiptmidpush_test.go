package smtp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// brokenLink is a link to hub-b whose push ends mid-session with err
// (after the link's own second try: receiptLink.Push's), no reply to
// the copy.
type brokenLink struct{ err error }

func (l *brokenLink) Server() string                                         { return "hub-b" }
func (l *brokenLink) Push(context.Context, *queue.Message, queue.Body) error { return l.err }
func (l *brokenLink) Done(bool)                                              {}

// brokenReceipt opens brokenLinks and makes a failed copy on hub-c
// (ReceiptRecopier), recording each call.
type brokenReceipt struct {
	refusingReceipt
	err error
}

func (r *brokenReceipt) Open(context.Context, string) (ReceiptLink, error) {
	return &brokenLink{err: r.err}, nil
}

// SR-17 (midpush41), the receive side: a push whose session ended
// mid-way — a 421 as the server stops, an EOF or a reset as it is
// killed, a batch that failed whole — is a failed try of that server as
// a refusal is: the message is marked held by this server only, with no
// reply when none came (the server may hold the copy: MarkSingleCopy
// keeps it as one that may), with the 421 when it answered so (it kept
// nothing, receipt42 item 2), and the next candidate takes the copy within the receipt,
// the failed server counted (tried); the 250 names the next server.
// The log says a mid-session failure, never a refusal. It was accepted
// ", no shadow copy" while another shadow server answered.
func TestShadowOnReceiptBrokenPushMovesOn(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		mark string // what the mark keeps: "" for a server that may hold the copy
	}{
		{"421", &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}, "421 4.3.2 Service shutting down"},
		{"eof", fmt.Errorf("reply to the end of the message: %w", io.EOF), ""},
		{"reset", fmt.Errorf("reply to the end of the message: %w", syscall.ECONNRESET), ""},
		{"batch", fmt.Errorf("shadow copy batch of 3 failed: %w; again: %w", io.ErrUnexpectedEOF, syscall.ECONNREFUSED), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			q := &markingQueue{}
			r := &brokenReceipt{err: c.err}
			conns := transportConnectorAt(t, freeAddrIn(t, "127.0.0.156", 7000, 7500))
			conns[0].ShadowOnReceipt = config.ShadowOnReceiptPreferRemote
			s := receiptServerOn(t, q, conns, r, nil, slog.New(slog.NewTextHandler(logs, nil)))
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.example", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			if got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250"); !strings.Contains(got, "shadow copy on hub-c") {
				t.Fatalf("reply %q; want the copy on hub-c, the next candidate", got)
			}
			q.mu.Lock()
			marks := append([]string(nil), q.marks...)
			q.mu.Unlock()
			if len(marks) != 1 || marks[0] != "hub-b "+c.mark {
				t.Errorf("marks %q; want hub-b with %q (no reply: it may hold the copy; a reply, a 421 too: it kept nothing, receipt42 item 2)", marks, c.mark)
			}
			r.mu.Lock()
			calls := append([]string(nil), r.calls...)
			r.mu.Unlock()
			if len(calls) != 1 || calls[0] != "prefer-remote hub-b" {
				t.Errorf("made again %q; want once, by prefer-remote, hub-b tried", calls)
			}
			if len(logs.lines("shadow copy push failed mid-session: trying the next shadow server")) != 1 || len(logs.lines("shadow copy refused")) != 0 {
				t.Errorf("log:\n%s\nwant the mid-session failure once, not a refusal", strings.Join(logs.lines(""), "\n"))
			}
		})
	}
}

// passedLink is a brokenLink whose Open tried hub-x before hub-b, which
// took no session (ReceiptLinkTried).
type passedLink struct{ brokenLink }

func (l *passedLink) TriedBefore() []string { return []string{"hub-x"} }

// passedReceipt opens passedLinks.
type passedReceipt struct{ brokenReceipt }

func (r *passedReceipt) Open(context.Context, string) (ReceiptLink, error) {
	return &passedLink{brokenLink{err: r.err}}, nil
}

// SR-17 (rrmidpush41): max_retries_*_site_shadow bound the servers a
// copy on receipt is tried on, those that took no session for it
// included. A push that ended mid-way on hub-b, after Open had found
// hub-x down, has the next candidate make the copy with both counted as
// tried: hub-b alone was passed, so the copy made again planned hub-x
// again (a second wait on a dead server, up to its bound) or a server
// past the budget in its place.
func TestShadowOnReceiptRecopyCountsServersOpenPassed(t *testing.T) {
	q := &markingQueue{}
	r := &passedReceipt{brokenReceipt{err: fmt.Errorf("reply to the end of the message: %w", syscall.ECONNRESET)}}
	conns := transportConnectorAt(t, freeAddrIn(t, "127.0.0.198", 13000, 13300))
	conns[0].ShadowOnReceipt = config.ShadowOnReceiptPreferRemote
	s := receiptServerOn(t, q, conns, r, nil)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	if got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250"); !strings.Contains(got, "shadow copy on hub-c") {
		t.Fatalf("reply %q; want the copy on hub-c, the next candidate", got)
	}
	r.mu.Lock()
	calls := append([]string(nil), r.calls...)
	r.mu.Unlock()
	if len(calls) != 1 || calls[0] != "prefer-remote hub-x,hub-b" {
		t.Errorf("made again %q; want once, by prefer-remote, hub-x and hub-b tried", calls)
	}
}
