package smtp

import (
	"testing"
	"time"

	"umbra/internal/clock"
)

// SMTP-2 (front38 F2): max_transaction_time runs from MAIL, as the
// README says ("MAIL to DATA or the first BDAT chunk"), not from the
// first command after it: the gap between MAIL and the next command is
// the transaction's too. MAIL at 0, RCPT 1.9s, NOOP 3.8s, DATA 5.7s with
// a 4s limit is 421 4.4.2 at DATA and nothing is queued; a RCPT 4.1s
// after MAIL is one too.
func TestSMTP2MaxTransactionTimeRunsFromMail(t *testing.T) {
	conf := `
  - name: default
    bindings: ["` + frontAddr(t) + `"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 2s, max_transaction_time: 4s}
`
	step := 1900 * time.Millisecond
	t.Run("RCPT NOOP DATA", func(t *testing.T) {
		clk := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
		q := &fakeQueue{}
		s := startServerClock(t, clk, q, conf)
		d := dial(t, s, "127.0.0.124")
		d.expect("220")
		d.cmd("EHLO c.test", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		clk.Advance(step)
		d.cmd("RCPT TO:<b@example.test>", "250")
		clk.Advance(step)
		d.cmd("NOOP", "250")
		clk.Advance(step)
		d.cmd("DATA", "421 4.4.2 Mail transaction took too long")
		if q.count() != 0 {
			t.Fatalf("%d queued", q.count())
		}
	})
	t.Run("first command after MAIL", func(t *testing.T) {
		clk := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
		s := startServerClock(t, clk, &fakeQueue{}, conf)
		d := dial(t, s, "127.0.0.124")
		d.expect("220")
		d.cmd("EHLO c.test", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		clk.Advance(4100 * time.Millisecond)
		d.cmd("RCPT TO:<b@example.test>", "421 4.4.2 Mail transaction took too long")
	})
	t.Run("a refused MAIL starts nothing", func(t *testing.T) {
		clk := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
		s := startServerClock(t, clk, &fakeQueue{}, conf)
		d := dial(t, s, "127.0.0.124")
		d.expect("220")
		d.cmd("EHLO c.test", "250")
		d.cmd("MAIL FROM:<a@x..org>", "501")
		clk.Advance(5 * time.Second)
		d.cmd("MAIL FROM:<a@example.org>", "250")
		clk.Advance(step)
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
	})
}
