package smtp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// What a transaction takes of its connector at a reload (reloadtxn.go):
// the settings in force when its MAIL is taken, kept to its end.

// txnYAML is a connector at addr with the lines extra (YAML, indented
// four spaces) after its permissions.
func txnYAML(addr, extra string) string {
	return fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
%s`, addr, extra)
}

// SMTP-5, SMTP-2: bare_newlines is read from the connector in force when
// the transaction begins (its MAIL), not from the one the session began
// on: a reload to normalize reaches a session opened before it, and a
// reload during DATA does not change the message half-way.
func TestSMTP5ReloadBareNewlinesTakenAtMail(t *testing.T) {
	addr := freeAddr(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, txnYAML(addr, ""))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, txnYAML(addr, "    bare_newlines: normalize\n")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nbare\nline\r\n")
	// A reload back to reject while the body arrives: the transaction
	// keeps what its MAIL took.
	if err := s.Reload(connectors(t, txnYAML(addr, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("more\nbare\r\n.", "250")
	if q.count() != 1 || !strings.Contains(string(q.bodies[0]), "bare\r\nline\r\nmore\r\nbare\r\n") {
		t.Fatalf("queued %d, body %q; want the bare LFs normalised", q.count(), q.bodies)
	}
	// The next transaction takes the reject in force.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nbare\nline\r\n.", "554 5.6.0")
}

// SMTP-2: dkim_sign added by a reload marks the next transaction of a
// session opened before it as the organisation's (queue Internal);
// taken away, the next one is not.
func TestSMTP2ReloadDKIMSignTakenAtMail(t *testing.T) {
	addr := freeAddr(t)
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, txnYAML(addr, ""))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	send := func() {
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	}
	if err := s.Reload(connectors(t, txnYAML(addr, "    dkim_sign: true\n")), testTable()); err != nil {
		t.Fatal(err)
	}
	send()
	if err := s.Reload(connectors(t, txnYAML(addr, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	send()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) != 2 || !q.msgs[0].Internal || q.msgs[1].Internal {
		t.Fatalf("Internal of the messages: %v; want the first (dkim_sign in force at its MAIL) only", internals(q))
	}
}

func internals(q *fakeQueue) []bool {
	var out []bool
	for _, m := range q.msgs {
		out = append(out, m.Internal)
	}
	return out
}

// SR-17, SMTP-2: shadow_on_receipt and reject_on_shadow_failure are
// read from the connector in force at the transaction's MAIL: a reload
// that turns either on reaches a session opened before it (no shadow
// server can be had: the message is refused 451 4.4.0, nothing queued).
func TestSR17ReloadShadowOnReceiptTakenAtMail(t *testing.T) {
	for _, tc := range []struct{ name, before, after string }{
		{"reject_on_shadow_failure added", "    shadow_on_receipt: prefer-remote\n",
			"    shadow_on_receipt: prefer-remote\n    reject_on_shadow_failure: true\n"},
		{"shadow_on_receipt added", "    shadow_on_receipt: \"off\"\n    reject_on_shadow_failure: true\n",
			"    shadow_on_receipt: prefer-remote\n    reject_on_shadow_failure: true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			q := &blockingGoneQueue{}
			s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, txnYAML(addr, tc.before)),
				Routing: testTable(), Queue: q, Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true,
				Clock: clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))})
			if err != nil {
				t.Fatal(err)
			}
			s.SetReceiptShadow(&fakeReceipt{fail: true})
			if err := s.Listen(); err != nil {
				t.Fatal(err)
			}
			s.Serve()
			t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO client.example", "250")
			if err := s.Reload(connectors(t, txnYAML(addr, tc.after)), testTable()); err != nil {
				t.Fatal(err)
			}
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.cmd("Subject: hi\r\n\r\nhello\r\n.", "451 4.4.0")
			if q.count() != 0 {
				t.Fatalf("queued %d; want nothing", q.count())
			}
		})
	}
}

// SMTP-2: max_recipients a reload lowers while a transaction is open
// holds the next transaction, not the open one (its MAIL took the limit).
func TestSMTP2ReloadRecipientLimitTakenAtMail(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, &fakeQueue{}, connectors(t, txnYAML(addr, "    limits: {max_recipients: 10}\n"))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<a@example.test>", "250")
	if err := s.Reload(connectors(t, txnYAML(addr, "    limits: {max_recipients: 1}\n")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<a@example.test>", "250")
	d.cmd("RCPT TO:<b@example.test>", "452 4.5.3")
}

// SR-9: max_acknowledgement_delay is the transaction's: a reload during
// DATA that turns it off does not answer the message at once (the end of
// data asks it twice, before the commit and after: both must agree).
func TestSR9ReloadDuringDataKeepsAcknowledgementDelay(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	q := &heldQueue{gone: make(chan struct{})}
	addr := freeAddr(t)
	conf := func(delay string) string {
		return strings.Replace(txnYAML(addr, "    max_acknowledgement_delay: "+delay+"\n"), "name: default", "name: edge", 1)
	}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, conf("5m")), Routing: testTable(), Queue: q,
		Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\n")
	if err := s.Reload(connectors(t, conf("0s")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.send("wait\r\n.\r\n")
	waitTimer(t, clk, 1)
	clk.Advance(5 * time.Minute)
	d.expect("250 2.0.0 Ok: queued as ")
}

// SMTP-5: the same for a body spooled to a file as it arrives (its
// newlines made CRLF while it is read, its end judged after): the
// transaction keeps the bare_newlines its MAIL took.
func TestSMTP5ReloadBareNewlinesTakenAtMailSpooled(t *testing.T) {
	addr := freeAddr(t)
	st, _ := spoolStore(t)
	q := &bodyQueue{}
	s := startSpoolServer(t, q, st, 1024, 0, connectors(t, txnYAML(addr, ""))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	if err := s.Reload(connectors(t, txnYAML(addr, "    bare_newlines: normalize\n")), testTable()); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 70) + "\n"
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\n" + strings.Repeat(long, 20))
	if err := s.Reload(connectors(t, txnYAML(addr, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	d.cmd(strings.Repeat(long, 20)+"end\r\n.", "250")
	q.bmu.Lock()
	spooled := len(q.spooled) == 1 && q.spooled[0]
	q.bmu.Unlock()
	if q.count() != 1 || !spooled || strings.Contains(string(q.bodies[0][len("Subject: x\r\n\r\n"):]), "x\nx") {
		t.Fatalf("queued %d (spooled %v); want one spooled message, its bare LFs normalised", q.count(), spooled)
	}
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\n"+strings.Repeat(long, 40)+"end\r\n.", "554 5.6.0")
}
