package smtp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
)

// leftQueue is a markingQueue whose messages left this server before
// their copy on receipt gave up (ReceiptLeftChecker).
type leftQueue struct{ markingQueue }

func (q *leftQueue) LeftBeforeCopy(queue.ID) (bool, error) { return true, nil }

// noRecopyReceipt opens brokenLinks and makes no copy again: the
// message left meanwhile (queue RecopyCandidate finds nothing to copy),
// or its push to the next candidate failed with recopyErr.
type noRecopyReceipt struct {
	brokenReceipt
	recopyErr error
	handed    []string // HandLeftDiscards: "ORGID SERVER,…"
}

// HandLeftDiscards records the hand-over asked for (LeftDiscardHander).
func (r *noRecopyReceipt) HandLeftDiscards(_ context.Context, id queue.ID, orgID string, servers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handed = append(r.handed, orgID+" "+strings.Join(servers, ","))
}

func (r *noRecopyReceipt) RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, pref+" "+strings.Join(tried, ","))
	return "", r.recopyErr
}

// receiptResults records the results of copies on receipt
// (ReceiptObserver).
type receiptResults struct {
	nopObserver
	mu      sync.Mutex
	results []string
}

func (o *receiptResults) ShadowOnReceipt(_, result string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.results = append(o.results, result)
}

// SR-17 (rcpt44 item 2, rt43 shadowrcpt2 F2): a push whose outcome is
// unknown — cut after its data, no reply (an EOF, a reset, the try's
// bound) — of a message that left this server meanwhile may have left a
// copy on the shadow server: the log, the metric's result and the
// sender's 250 say so (the server is owed the copy's discard: the
// commit that ended the message wrote it, fetched at the server's next
// contact), never "no copy needed". A push the server answered (a
// refusal, a 421) left nothing there: "left", no copy needed, as before.
func TestSR17LeftWithPushUnansweredSaysServerMayHoldCopy(t *testing.T) {
	refused := &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
	for _, c := range []struct {
		name           string
		err            error
		result, logged string
		reply          string
		recopyErr      error  // the next candidate's push
		mayHold        string // the servers owed the discard, handed before the 250
	}{
		{"eof-after-data", fmt.Errorf("reply to the end of the message: %w", io.EOF), "left_may_hold",
			"message left this server before its shadow copy on receipt was confirmed: the shadow server may hold a copy",
			"left this server before its shadow copy was confirmed", nil, "hub-b"},
		{"timed-out", fmt.Errorf("shadow copy not pushed within 10s: %w: %w", ErrCopyTimedOut, io.ErrUnexpectedEOF), "left_may_hold",
			"message left this server before its shadow copy on receipt was confirmed: the shadow server may hold a copy",
			"left this server before its shadow copy was confirmed", nil, "hub-b"},
		{"refused", &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}, "left",
			"message left this server before its shadow copy on receipt was made: no copy needed",
			"left this server before its shadow copy was made", nil, ""},
		{"421", &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}, "left",
			"message left this server before its shadow copy on receipt was made: no copy needed",
			"left this server before its shadow copy was made", nil, ""},
		// hub-b refused; the copy made again on hub-c got no reply after
		// its data: hub-c may hold it.
		{"refused-then-next-unanswered", refused, "left_may_hold",
			"message left this server before its shadow copy on receipt was confirmed: the shadow server may hold a copy",
			"left this server before its shadow copy was confirmed",
			&CopyMayBeHeldError{Servers: []string{"hub-c"}, Err: fmt.Errorf("hub-c: push failed: %w", io.EOF)}, "hub-c"},
		{"refused-then-next-refused", refused, "left",
			"message left this server before its shadow copy on receipt was made: no copy needed",
			"left this server before its shadow copy was made", fmt.Errorf("hub-c: 452 4.3.1 Insufficient system storage"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			q := &leftQueue{}
			r := &noRecopyReceipt{brokenReceipt: brokenReceipt{err: c.err}, recopyErr: c.recopyErr}
			conns := transportConnectorAt(t, freeAddrIn(t, "127.0.0.150", 7300, 7400))
			conns[0].ShadowOnReceipt = config.ShadowOnReceiptPreferRemote
			obs := &receiptResults{}
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
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.example", "250")
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			got := d.cmd("Subject: hi\r\n\r\nhello\r\n.", "250")
			if !strings.Contains(got, c.reply) {
				t.Errorf("reply %q; want %q", got, c.reply)
			}
			// The discards owed to the servers that may hold the copy
			// were handed before the 250 (rdwatch45): left for their
			// next contact, a kill of this server right after it left
			// each free to take the copy over.
			r.mu.Lock()
			handed := append([]string(nil), r.handed...)
			r.mu.Unlock()
			switch {
			case c.result == "left_may_hold" && (len(handed) != 1 || !strings.HasSuffix(handed[0], " "+c.mayHold)):
				t.Errorf("discard hand-overs before the 250: %q; want one to %s", handed, c.mayHold)
			case c.result == "left" && len(handed) != 0:
				t.Errorf("discard hand-overs %q for a push the server answered: it holds nothing", handed)
			}
			d.cmd("QUIT", "221")
			obs.mu.Lock()
			results := append([]string(nil), obs.results...)
			obs.mu.Unlock()
			if len(results) != 1 || results[0] != c.result {
				t.Errorf("results %q; want %q", results, c.result)
			}
			if len(logs.lines(c.logged)) != 1 {
				t.Errorf("log:\n%s\nwant %q once", strings.Join(logs.lines(""), "\n"), c.logged)
			}
			if c.recopyErr != nil && c.result == "left_may_hold" && len(logs.lines("shadow_server=hub-c")) == 0 {
				t.Errorf("log:\n%s\ndoes not name hub-c, which may hold the copy", strings.Join(logs.lines(""), "\n"))
			}
			if c.result == "left_may_hold" && len(logs.lines("no copy needed")) != 0 {
				t.Errorf("log:\n%s\nsays no copy is needed though the server may hold one", strings.Join(logs.lines(""), "\n"))
			}
		})
	}
}
