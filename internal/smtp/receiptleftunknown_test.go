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

// unreadableLeftQueue is a markingQueue whose read of whether a message
// left fails (its transport database's read, a damaged record).
type unreadableLeftQueue struct{ markingQueue }

func (q *unreadableLeftQueue) LeftBeforeCopy(queue.ID) (bool, error) {
	return false, errors.New("reading message: corrupt message record")
}

// recopyOnReceipt is a noRecopyReceipt whose copy made again is taken by
// server again.
type recopyOnReceipt struct {
	noRecopyReceipt
	again string
}

func (r *recopyOnReceipt) RecopyRefused(ctx context.Context, id queue.ID, pref string, tried []string) (string, error) {
	if _, err := r.noRecopyReceipt.RecopyRefused(ctx, id, pref, tried); err != nil {
		return "", err
	}
	return r.again, nil
}

// SR-17 (receipt48 item 1): when the read of whether the message left
// this server before its copy on receipt gave up fails, the receipt
// knows neither: the 250 does not name a copy as the message's shadow
// copy (nor the message as held here only) without saying that whether
// it left is unknown, nor says it left; no discard is handed (the
// message may be here, its copy its only other one); the WARN names the
// read's error, and the metric's result is "left_unknown".
func TestSR17LeftUnreadableClaimsNeither(t *testing.T) {
	refused := &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage"}
	for _, c := range []struct {
		name  string
		err   error
		again string
		reply string
	}{
		{"copied-again", refused, "hub-c", "shadow copy made on hub-c; whether the message left this server meanwhile is unknown"},
		{"no-reply", fmt.Errorf("reply to the end of the message: %w", io.EOF), "", "shadow copy unconfirmed: one may exist on hub-b; whether the message left this server meanwhile is unknown"},
		{"refused", refused, "", "no shadow copy; whether the message left this server meanwhile is unknown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &syncBuffer{}
			q := &unreadableLeftQueue{}
			r := &recopyOnReceipt{noRecopyReceipt: noRecopyReceipt{brokenReceipt: brokenReceipt{err: c.err}}, again: c.again}
			conns := transportConnectorAt(t, freeAddrIn(t, "127.0.0.150", 7400, 7500))
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
			if strings.Contains(got, "left this server before") {
				t.Errorf("reply %q claims the message left, which could not be read", got)
			}
			d.cmd("QUIT", "221")
			r.mu.Lock()
			handed := append([]string(nil), r.handed...)
			r.mu.Unlock()
			if len(handed) != 0 {
				t.Errorf("discard hand-overs %q though whether the message left is unknown", handed)
			}
			obs.mu.Lock()
			results := append([]string(nil), obs.results...)
			obs.mu.Unlock()
			if len(results) != 1 || results[0] != "left_unknown" {
				t.Errorf("results %q; want left_unknown", results)
			}
			if lines := logs.lines("could not read whether the message left this server"); len(lines) != 1 || !strings.Contains(lines[0], "corrupt message record") || !strings.Contains(lines[0], "level=WARN") {
				t.Errorf("log:\n%s\nwant one WARN naming the failed read", strings.Join(logs.lines(""), "\n"))
			}
			for _, claim := range []string{"message held by this server only", "no copy needed", "shadow copy on receipt made"} {
				if len(logs.lines(claim)) != 0 {
					t.Errorf("log:\n%s\nclaims %q though whether the message left is unknown", strings.Join(logs.lines(""), "\n"), claim)
				}
			}
		})
	}
}
