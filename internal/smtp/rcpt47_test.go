package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// rcpt47IP is the loopback address of the rcpt47 tests (ports
// 39000-39499 here, 39500-39999 in package delivery).
const rcpt47IP = "127.0.0.187"

// rcpt47Server runs a server with shadow on receipt (prefer-remote)
// whose copies go by r, queued in q, its results told to obs and its
// log to logs, on a fake clock.
func rcpt47Server(t *testing.T, q Queue, r ReceiptShadow, lo, hi int, obs *receiptResults, logs *syncBuffer) *Server {
	t.Helper()
	conns := transportConnectorAt(t, freeAddrIn(t, rcpt47IP, lo, hi))
	conns[0].ShadowOnReceipt = config.ShadowOnReceiptPreferRemote
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Log: slog.New(slog.NewTextHandler(logs, nil)),
		Routing: testTable(), Queue: q, Shadow: &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}},
		ShadowEnabled: true, Clock: clock.NewFake(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReceiptShadow(r)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s
}

// rcpt47Send sends one message to s and returns the reply to its data.
func rcpt47Send(t *testing.T, s *Server) string {
	t.Helper()
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
	d.cmd("QUIT", "221")
	return got
}

// SR-17 (rcpt47 item 1): a push of the copy on receipt whose outcome is
// unknown — its data sent, then no reply (an EOF, a reset, the try's
// bound) — and no other server taking the copy: that server may hold a
// copy (it is marked as one that may, and owed its discard when the
// copy is made again). The sender's 250, the metric's result and the
// log say a copy may exist on it — not ", no shadow copy", "single",
// "no shadow copy", which told the sender and the operator that this
// server's disk was the message's only one while the shadow server may
// well have stored it. A push every server answered (refused) is held
// here only, as before.
func TestSR17UnconfirmedPushSaysCopyMayExist(t *testing.T) {
	refused := &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
	for i, c := range []struct {
		name      string
		err       error // hub-b's push
		recopyErr error // the next candidate's
		result    string
		reply     string
		logged    string
	}{
		{"eof-after-data", fmt.Errorf("reply to the end of the message: %w", io.EOF), errors.New("no other candidate"),
			"may_hold", ", shadow copy unconfirmed: one may exist on hub-b",
			"shadow copy on receipt unconfirmed: a copy may exist on the shadow server"},
		{"timed-out", fmt.Errorf("shadow copy not pushed within 10s: %w: %w", ErrCopyTimedOut, io.ErrUnexpectedEOF), errors.New("no other candidate"),
			"may_hold", ", shadow copy unconfirmed: one may exist on hub-b",
			"shadow copy on receipt unconfirmed: a copy may exist on the shadow server"},
		// hub-b refused; the copy made again on hub-c got no reply after
		// its data: hub-c may hold it.
		{"refused-then-next-unanswered", refused,
			&CopyMayBeHeldError{Servers: []string{"hub-c"}, Err: fmt.Errorf("hub-c: push failed: %w", io.EOF)},
			"may_hold", ", shadow copy unconfirmed: one may exist on hub-c",
			"shadow copy on receipt unconfirmed: a copy may exist on the shadow server"},
		{"refused", refused, errors.New("hub-c: 452 4.3.1 Insufficient system storage"),
			"single", ", no shadow copy", "message held by this server only: no shadow copy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			obs := &receiptResults{}
			r := &noRecopyReceipt{brokenReceipt: brokenReceipt{err: c.err}, recopyErr: c.recopyErr}
			s := rcpt47Server(t, &markingQueue{}, r, 39000+50*i, 39050+50*i, obs, logs)
			got := rcpt47Send(t, s)
			if !strings.HasSuffix(got, c.reply) {
				t.Errorf("reply %q; want it to end %q", got, c.reply)
			}
			if c.result == "may_hold" && strings.Contains(got, "no shadow copy") {
				t.Errorf("reply %q says no shadow copy exists, though the shadow server may hold one", got)
			}
			obs.mu.Lock()
			results := append([]string(nil), obs.results...)
			obs.mu.Unlock()
			if len(results) != 1 || results[0] != c.result {
				t.Errorf("results %q; want %q", results, c.result)
			}
			if len(logs.lines(c.logged)) != 1 {
				t.Errorf("log:\n%s\nwant %q once", strings.Join(logs.lines(""), "\n"), c.logged)
			}
			if c.result == "may_hold" && len(logs.lines("no shadow copy")) != 0 {
				t.Errorf("log:\n%s\nsays no shadow copy, though the shadow server may hold one", strings.Join(logs.lines(""), "\n"))
			}
		})
	}
}

// SR-17 (rcpt47 item 5): a push refused by hub-b, the copy made again
// on hub-c within the receipt, and the message left this server (its
// delivery attempt, which starts at the commit, ended) meanwhile. The
// 250 said "shadow copy on hub-c" of a message that had left, hub-c
// holding a copy owed its discard. It says the message left before its
// copy was confirmed, counts "left_may_hold", and hub-c's discard is
// handed before the 250 (by the org id: the record may be gone).
func TestSR17LeftWhileCopyMadeAgainSaysLeft(t *testing.T) {
	refused := &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
	logs := &syncBuffer{}
	obs := &receiptResults{}
	r := &recopiedReceipt{noRecopyReceipt: noRecopyReceipt{brokenReceipt: brokenReceipt{err: refused}}, to: "hub-c"}
	s := rcpt47Server(t, &leftQueue{}, r, 39200, 39250, obs, logs)
	got := rcpt47Send(t, s)
	if strings.Contains(got, "shadow copy on hub-c") || !strings.Contains(got, "left this server before its shadow copy was confirmed") {
		t.Errorf("reply %q; want the message said to have left before its copy was confirmed", got)
	}
	obs.mu.Lock()
	results := append([]string(nil), obs.results...)
	obs.mu.Unlock()
	if len(results) != 1 || results[0] != "left_may_hold" {
		t.Errorf("results %q; want left_may_hold", results)
	}
	r.mu.Lock()
	handed := append([]string(nil), r.handed...)
	r.mu.Unlock()
	if len(handed) != 1 || !strings.HasSuffix(handed[0], " hub-c") {
		t.Errorf("discard hand-overs before the 250: %q; want one to hub-c", handed)
	}
	if len(logs.lines("shadow copy on receipt made on the next shadow server")) != 0 {
		t.Errorf("log:\n%s\nsays the copy was made, of a message that left", strings.Join(logs.lines(""), "\n"))
	}
}

// recopiedReceipt is a noRecopyReceipt whose copy made again is kept
// by to.
type recopiedReceipt struct {
	noRecopyReceipt
	to string
}

func (r *recopiedReceipt) RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error) {
	r.noRecopyReceipt.RecopyRefused(ctx, id, pref, tried)
	return r.to, nil
}
