package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// The REQUIRETLS flag survives the record format, and a record written
// before the flag existed reads as without it (schema-compatible: a bit
// of the flags field older releases ignore).
func TestRecordCarriesRequireTLS(t *testing.T) {
	m := &Message{ID: 7, State: Ready, From: "a@example.org", RequireTLS: true, EightBit: true,
		Rcpts: []Recipient{{Addr: "b@example.net"}}}
	got, err := decodeMessage(m.encode())
	if err != nil || !got.RequireTLS || !got.EightBit || got.ManualRetry {
		t.Fatalf("%+v %v", got, err)
	}
	m.RequireTLS = false
	if got, _ := decodeMessage(m.encode()); got.RequireTLS {
		t.Fatal("flag set from nowhere")
	}
}

// A REQUIRETLS message (RFC 8689) deferred for want of verified TLS
// until it expires fails with 5.7.10; its DSN carries REQUIRETLS itself
// and returns the headers only, whatever RET says (§5).
func TestRequireTLSExpiryDSN(t *testing.T) {
	s := openTest(t)
	d := newScripted(func(addr string, n int) (Outcome, string) {
		if addr == "b@dest.example" {
			return Deferred, "451 4.7.5 REQUIRETLS: no host of dest.example offered verified TLS: STARTTLS refused"
		}
		return RelayedOK, "250 ok"
	})
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Clock: clk, MessageExpiration: time.Minute, RetrySchedule: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "a@umbra.test", "b@dest.example")
	m.RequireTLS, m.RetFull = true, true
	m.Arrived = clk.Now()
	if err := q.Submit(ctx, m, []byte("Subject: secret subject\r\n\r\nsecret body text\r\n")); err != nil {
		t.Fatal(err)
	}
	d.wait(t)
	waitFor(t, "the deferral committed", func() bool { got, _ := q.Message(m.ID); return got != nil && got.State == Ready })
	clk.Advance(time.Minute) // its expiry: the retry is capped there and fails it
	q.Kick()
	d.wait(t) // the DSN
	d.mu.Lock()
	dsn := d.seen[1]
	d.mu.Unlock()
	if !dsn.RequireTLS || dsn.From != "" {
		t.Errorf("DSN REQUIRETLS %v, from %q", dsn.RequireTLS, dsn.From)
	}
	if !strings.Contains(dsn.Helo, "5.7.10") || strings.Contains(dsn.Helo, "secret body text") || !strings.Contains(dsn.Helo, "text/rfc822-headers") {
		t.Errorf("DSN:\n%s", dsn.Helo)
	}
}
