package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// parsedDSN is a DSN as its sender's software reads it: the text part,
// and the delivery-status part's per-recipient fields.
type parsedDSN struct {
	subject string
	text    string
	rcpt    textproto.MIMEHeader // the first per-recipient block
}

// parseDSN reads the multipart/report body of a DSN.
func parseDSN(t *testing.T, raw []byte) parsedDSN {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the DSN does not parse: %v\n%s", err, raw)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	out := parsedDSN{subject: msg.Header.Get("Subject")}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			out.text = string(b)
		case "message/delivery-status", "message/global-delivery-status":
			r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
			if _, err := r.ReadMIMEHeader(); err != nil { // per-message fields
				t.Fatalf("per-message fields: %v\n%s", err, b)
			}
			if out.rcpt, err = r.ReadMIMEHeader(); err != nil && err != io.EOF {
				t.Fatalf("per-recipient fields: %v\n%s", err, b)
			}
		}
	}
	if out.rcpt == nil {
		t.Fatalf("no delivery-status part:\n%s", raw)
	}
	return out
}

// queuedDSNs are the DSNs waiting in the store, oldest first, parsed.
func queuedDSNs(t *testing.T, s *Store) []parsedDSN {
	t.Helper()
	var out []parsedDSN
	for _, m := range messages(t, s) {
		if !m.OwnDSN() {
			continue
		}
		var body []byte
		if err := s.View(func(tx *Tx) error {
			var err error
			body, err = tx.Body(m.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		out = append(out, parseDSN(t, body))
	}
	return out
}

const greylisted = "451 4.7.1 greylisted, try again later"

// Q-3, SMTP-7 (dsnlast47): a message whose next hop answered it
// (mx.down.test[192.0.2.1] greylisted it), then held in its queue the
// operator suspended, gets its delay notice and its expiry while held;
// each DSN reports the reply the next hop last gave — its Remote-MTA,
// its Diagnostic-Code, the reply in the text part (a delay's Status the
// host's) — and mentions the hold beside it, not the hold in place of
// it: the sender and the operator keep the real cause. The host's reply
// is kept apart from the hold's note in the record, across a restart
// while held; the tracking log's fail event at the expiry says both. Both ways into the hold: its retry's delivery answers
// Held (the hold written at once), and a claim that finds its queue
// suspended already (known: the hold written when its notice falls
// due). The sender's own queue is suspended too, so the DSNs stay
// queued and are read from the store as written.
func TestHeldQueueExpiryDSNQuotesTheNextHopsLastReply(t *testing.T) {
	for _, known := range []bool{false, true} {
		for _, inside := range []bool{false, true} {
			name := map[bool]string{false: "delivery", true: "known"}[known] + "/" + map[bool]string{false: "outside", true: "inside"}[inside]
			t.Run(name, func(t *testing.T) { heldQueueExpiryQuotesLastReply(t, known, inside) })
		}
	}
}

func heldQueueExpiryQuotesLastReply(t *testing.T, known, inside bool) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	cfg := ManagerConfig{Hostname: "mx.test", Clock: clk,
		RetrySchedule: []time.Duration{10 * time.Second}, MessageExpiration: 60 * time.Second,
		DelayNotification: 20 * time.Second, Inside: Inside{SenderDomains: senders(inside)}}
	ev := &eventLog{}
	cfg.Events = ev
	start := func(s *Store, before func(q *Manager)) (*Manager, func()) {
		p := newPlanned()
		q := NewManager(s, p, cfg)
		p.suspended = q.IsSuspended
		ctx, cancel := context.WithCancel(context.Background())
		before(q)
		q.Start(ctx)
		return q, func() { close(p.stop); cancel(); q.Wait() }
	}
	ctx := context.Background()
	m := msg(s, "a@example.org", "x@down.test")
	q, stop := start(s, func(q *Manager) {
		for _, name := range []string{"mx:down.test", "mx:example.org"} {
			if err := q.SuspendQueue(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		m.State, m.Arrived, m.NextAttempt, m.Attempts = Ready, t0, t0.Add(5*time.Second), 1
		m.Rcpts[0].NextHop, m.Rcpts[0].LastReply = "mx.down.test[192.0.2.1]:25", greylisted
		if known {
			m.Rcpts[0].Queue = "mx:down.test"
		}
		if err := s.Update(ctx, func(tx *Tx) error { return tx.PutNew(m, []byte(body)) }); err != nil {
			t.Fatal(err)
		}
	})
	clk.Advance(5 * time.Second) // its retry: the delivery holds it
	waitFor(t, "the retry held", func() bool {
		got, _ := q.Message(m.ID)
		if known {
			return got != nil && got.State == Ready && got.NextAttempt.After(t0.Add(5*time.Second))
		}
		return got != nil && got.State == Ready && heldBy(got.Rcpts[0].LastReply) == "mx:down.test"
	})
	// A restart while held: the host's reply is in the record.
	stop()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, stop = start(s, func(*Manager) {})
	defer stop()
	got, err := q.Message(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Rcpts[0]; !known && (r.HopReply != greylisted || r.HopHost != "mx.down.test[192.0.2.1]:25") {
		t.Errorf("after the restart the held recipient keeps %q from %q apart from its hold, want %q from mx.down.test[192.0.2.1]:25",
			r.HopReply, r.HopHost, greylisted)
	}

	clk.Advance(15 * time.Second) // t0 + 20s: the delay notice
	waitFor(t, "the delay DSN", func() bool { return len(queuedDSNs(t, s)) >= 1 })
	clk.Advance(40 * time.Second) // t0 + 60s: the expiry
	waitFor(t, "the failure DSN", func() bool { return len(queuedDSNs(t, s)) >= 2 })
	dsns := queuedDSNs(t, s)
	fail := "fail: 550 5.4.7 message expired after 1m0s while its queue mx:down.test was suspended by the administrator; last reply: " + greylisted
	waitFor(t, "the tracking event "+fail, func() bool { return ev.has(fail) })
	for k, d := range dsns {
		what := [...]string{"delay", "failure"}[min(k, 1)]
		if got := d.rcpt.Get("Remote-MTA"); got != "dns; mx.down.test" {
			t.Errorf("%s DSN: Remote-MTA %q, want the next hop that last answered, dns; mx.down.test", what, got)
		}
		if got := d.rcpt.Get("Diagnostic-Code"); got != "smtp; "+greylisted {
			t.Errorf("%s DSN: Diagnostic-Code %q, want the next hop's last reply, smtp; %s", what, got, greylisted)
		}
		if !strings.Contains(d.text, "greylisted, try again later") {
			t.Errorf("%s DSN's text does not carry the next hop's last reply:\n%s", what, d.text)
		}
		if !strings.Contains(d.text, "suspended by the administrator") {
			t.Errorf("%s DSN's text does not mention the hold beside the reply:\n%s", what, d.text)
		}
		if inside && !strings.Contains(d.text, "mx:down.test") || !inside && strings.Contains(d.text, "mx:down.test") {
			t.Errorf("%s DSN's text, a sender inside %v: the queue's name shown %v:\n%s", what, inside, !inside, d.text)
		}
	}
	if len(dsns) == 2 {
		if got := dsns[0].rcpt.Get("Status"); got != "4.7.1" {
			t.Errorf("delay DSN: Status %q, want the next hop's 4.7.1", got)
		}
		if got := dsns[1].rcpt.Get("Status"); got != "5.4.7" {
			t.Errorf("failure DSN: Status %q, want the expiry's 5.4.7", got)
		}
	}
}
