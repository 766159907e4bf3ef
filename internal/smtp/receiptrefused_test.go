package smtp

import (
	"context"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
)

// refusingReceipt is a fakeReceipt whose chosen server (hub-b) refuses
// each copy as a full disk does (452 4.3.1), and which makes a refused
// copy on the next candidate (ReceiptRecopier): hub-c.
type refusingReceipt struct {
	fakeReceipt
	mu    sync.Mutex
	calls []string // "pref tried…" per RecopyRefused
}

type refusingLink struct{ fakeLink }

func (r *refusingReceipt) Open(ctx context.Context, pref string) (ReceiptLink, error) {
	l, err := r.fakeReceipt.Open(ctx, pref)
	if err != nil {
		return nil, err
	}
	return &refusingLink{*l.(*fakeLink)}, nil
}

func (l *refusingLink) Push(context.Context, *queue.Message, queue.Body) error {
	return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
}

func (r *refusingReceipt) RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, pref+" "+strings.Join(tried, ","))
	return "hub-c", nil
}

// markingQueue records the marks of messages held by this server only.
type markingQueue struct {
	blockingGoneQueue
	mu    sync.Mutex
	marks []string // "server refused"
}

func (q *markingQueue) MarkSingleCopy(id queue.ID, server, refused string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.marks = append(q.marks, server+" "+refused)
	return nil
}

// rt30 F2: a copy on receipt that the chosen shadow server refuses
// after the commit named it (452 4.3.1: its disk is full) is a failed
// try: the message is marked with the refusal (message show names it,
// not a lost copy) and the next candidate takes the copy within the
// same receipt; the 250 names that server.
func TestShadowOnReceiptRefusedCopyMovesOn(t *testing.T) {
	peer := startShadowServer(t, &copyQueue{}, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	q := &markingQueue{}
	r := &refusingReceipt{fakeReceipt: fakeReceipt{peer: peer}}
	s := receiptServer(t, q, "    shadow_on_receipt: prefer-remote\n", r)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
	if !strings.Contains(got, "shadow copy on hub-c") {
		t.Fatalf("reply %q; want the copy on hub-c, the next candidate", got)
	}
	q.mu.Lock()
	marks := append([]string(nil), q.marks...)
	q.mu.Unlock()
	if len(marks) != 1 || marks[0] != "hub-b 452 4.3.1 Insufficient system storage" {
		t.Fatalf("marks %q; want hub-b's refusal with its reply", marks)
	}
	r.mu.Lock()
	calls := append([]string(nil), r.calls...)
	r.mu.Unlock()
	if len(calls) != 1 || calls[0] != "prefer-remote hub-b" {
		t.Fatalf("made again %q; want once, by prefer-remote, hub-b tried", calls)
	}
}

// holdingReceipt is a refusingReceipt that is a ReceiptRecopyHolder: it
// counts the holds, and each RecopyRefused records whether the message
// was held when it came.
type holdingReceipt struct {
	refusingReceipt
	held     map[queue.ID]int
	heldThen []bool // per RecopyRefused
}

func (r *holdingReceipt) HoldRecopy(id queue.ID) func() {
	r.mu.Lock()
	r.held[id]++
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.held[id]--
		r.mu.Unlock()
	}
}

func (r *holdingReceipt) RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error) {
	r.mu.Lock()
	r.heldThen = append(r.heldThen, r.held[id] > 0)
	r.mu.Unlock()
	return r.refusingReceipt.RecopyRefused(ctx, id, pref, tried)
}

// rt20h-F1 (SR-17): the receive session holds the message from its push
// until its reply — through the mark of the failed push and the copy on
// the next candidate — so that the made-again pass, which lists the
// mark, pushes no second copy meanwhile (to the server given up on);
// the hold ends with the reply.
func TestShadowOnReceiptHoldsTheMessageUntilItsReply(t *testing.T) {
	peer := startShadowServer(t, &copyQueue{}, &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}, true, transportConnector(t, ""))
	q := &markingQueue{}
	r := &holdingReceipt{refusingReceipt: refusingReceipt{fakeReceipt: fakeReceipt{peer: peer}}, held: map[queue.ID]int{}}
	s := receiptServer(t, q, "    shadow_on_receipt: prefer-remote\n", r)
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
	defer r.mu.Unlock()
	if len(r.heldThen) != 1 || !r.heldThen[0] {
		t.Fatalf("held at the copy on the next candidate: %v; want [true]", r.heldThen)
	}
	for id, n := range r.held {
		if n != 0 {
			t.Fatalf("message %v still held %d times after the reply; want released", id, n)
		}
	}
	if len(r.held) != 1 {
		t.Fatalf("holds of %d messages; want the one message's", len(r.held))
	}
}
