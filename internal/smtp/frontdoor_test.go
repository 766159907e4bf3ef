package smtp

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/recipients"
)

// A malformed BDAT in the middle of a transfer fails the transaction
// (RFC 3030 §4.2: the client takes the 501 as the end of it): the data
// so far and its spool file go, and a client that starts over without
// RSET gets a new transaction, never its new chunk appended to the old
// message.
func TestMalformedBDATEndsTransfer(t *testing.T) {
	st, dir := spoolStore(t)
	q := &bodyQueue{}
	s := startSpoolServer(t, q, st, 4096, 0, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 1MiB}
`)...)
	first := "Subject: first\r\n\r\n" + strings.Repeat(strings.Repeat("f", 78)+"\r\n", 100) // lines within max_line_length (BDAT is held to it)
	second := "Subject: second\r\n\r\nhi\r\n"
	for _, bad := range []string{"BDAT 5 LASTX", "BDAT", "BDAT -1", "BDAT 5 LAST extra", "BDAT 0x10"} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
		d.expect("250")
		waitSpoolFiles(t, dir, 1)
		d.cmd(bad, "501 5.5.4")
		waitSpoolFiles(t, dir, 0)
		// Started over without RSET: a new transaction.
		d.cmd("MAIL FROM:<c@example.org>", "250")
		d.cmd("RCPT TO:<d@example.test>", "250")
		n := q.count()
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(second), second))
		d.expect("250 2.0.0 Ok: queued")
		if q.count() != n+1 {
			t.Fatalf("%s: %d queued, want %d", bad, q.count(), n+1)
		}
		q.mu.Lock()
		got, m := string(dropTrace(q.bodies[n])), q.msgs[n]
		q.mu.Unlock()
		if got != second || m.From != "c@example.org" {
			t.Fatalf("%s: stored from %q: %.60q, want the second message alone", bad, m.From, got)
		}
		d.cmd("QUIT", "221")
	}
	// So does a MAIL, RCPT or DATA in the middle of a transfer: the
	// client has lost track of it, and its next chunk must not be added.
	for _, bad := range []string{"MAIL FROM:<c@example.org>", "RCPT TO:<d@example.test>", "DATA"} {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
		d.expect("250")
		waitSpoolFiles(t, dir, 1)
		d.cmd(bad, "503 5.5.1")
		waitSpoolFiles(t, dir, 0)
		n := q.count()
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(second), second))
		d.expect("503 5.5.1") // no transaction: nothing appended, nothing queued
		d.cmd("MAIL FROM:<c@example.org>", "250")
		if q.count() != n {
			t.Fatalf("%s: a message was queued", bad)
		}
		d.cmd("QUIT", "221")
	}
	// Outside a transfer a malformed BDAT is only a syntax error: the
	// transaction (MAIL, RCPT) stands.
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("BDAT 5 LASTX", "501 5.5.4")
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(second), second))
	d.expect("250 2.0.0 Ok: queued")
}

// min_data_rate caps the credit a burst earns at one idle_timeout (as
// Postfix's smtpd_min_data_rate does): a fast start followed by a
// trickle is cut off within two idle timeouts however large the burst,
// with a reply that names the rate, not idleness.
func TestDataRateBurstCreditCapped(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	q := &fakeQueue{}
	s := startServerClock(t, clk, q, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 20s, min_data_rate: 500, max_message_size: 10MiB}
`)
	burst := "Subject: b\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 1000) // 1 MB: 2000 s at 500 B/s

	// BDAT: the burst, then one byte every 15 s: the second is late.
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send(fmt.Sprintf("BDAT %d\r\n%s", len(burst), burst))
	d.expect("250")
	clk.Advance(15 * time.Second)
	d.send("BDAT 1\r\nx")
	d.expect("250")
	clk.Advance(15 * time.Second)
	d.send("BDAT 1\r\nx")
	d.expect("421 4.4.2 Data rate too low")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("after the cut: %q", got)
	}

	// DATA: the burst, then a byte past idle_timeout.
	d = dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send(burst)
	clk.Advance(25 * time.Second)
	d.send("x")
	d.expect("421 4.4.2 Data rate too low")

	// A burst that ends the message is taken; so is a transfer that keeps
	// up the rate in chunks (TestBDATTrickleCutOff).
	d = dial(t, s, "")
	d.expect("220")
	d.openData()
	d.send(burst + ".\r\n")
	d.expect("250 2.0.0 Ok: queued")
	if q.count() != 1 {
		t.Fatalf("%d queued", q.count())
	}
}

// The postmaster exception (RFC 5321 §4.5.1) matches "postmaster" in
// ASCII only, in any ASCII case: a Unicode fold (U+017F LONG S folds to
// s, U+212A KELVIN SIGN to k) must not let an address past recipient
// validation that delivery would then write to a mailbox nobody reads.
func TestPostmasterASCIIOnly(t *testing.T) {
	list, err := recipients.NewList([]string{"alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	v := recipients.NewValidator([]recipients.DomainMode{{Pattern: "example.test", Mode: recipients.ModeDirectory}}, recipients.Chain{list}, nil)
	q := &fakeQueue{}
	s := startWith(t, ServerConfig{Queue: q, Connectors: connectors(t, anon), Postmaster: "postmaster@example.test"})
	s.SetRecipients(v)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	for _, bad := range []string{"poſtmaster@example.test", "POſTMASTER@example.test"} {
		d.cmd("RCPT TO:<"+bad+">", "550")
	}
	// A LONG S in the domain stands for "s" (UTS #46), which IDNA 2008
	// disallows: the domain is refused as such.
	d.cmd("RCPT TO:<poſtmaster@poſtmaster.invalid>", "553 5.1.3")
	d.cmd("RCPT TO:<poſtmaster>", "501") // not <postmaster>: a path without a domain
	for _, ok := range []string{"PostMaster@example.test", "postmaster", "POSTMASTER"} {
		d.cmd("RCPT TO:<"+ok+">", "250")
	}
}

func TestASCIIEqualFold(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"postmaster", "PostMaster", true}, {"poſtmaster", "postmaster", false}, {"\u212Aate", "kate", false},
		{"hub2", "HUB2", true}, {"hub", "hub2", false}, {"", "", true}, {"é", "É", false}} {
		if got := asciiEqualFold(c.a, c.b); got != c.want {
			t.Errorf("asciiEqualFold(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// rejectObserver counts sessions ended by a limit, per reason.
type rejectObserver struct {
	nopObserver
	mu  sync.Mutex
	why map[string]int
}

func (o *rejectObserver) Rejected(_, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.why[why]++
}

func (o *rejectObserver) count(why string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.why[why]
}

// Unknown and unparseable commands are errors like any other: the one
// limit is umbra's (max_errors, 421 4.7.0, counted), not go-smtp's own
// (a 500 and a close after a handful).
func TestUnknownCommandsUnderErrorLimit(t *testing.T) {
	obs := &rejectObserver{why: map[string]int{}}
	s := startWith(t, ServerConfig{Observer: obs, Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_errors: 8, soft_error_limit: 100}
`)})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	for _, c := range []string{"BOGUS", "FOOB x", "ABCD", "", "XYZ", "ETRNX", "MAILX FROM:<a@b>"} {
		d.cmd(c, "500 5.5.")
	}
	d.cmd("NOOP", "250")
	d.send("BOGUS\r\nNOOP\r\n")
	d.expect("500 5.5.")
	d.expect("421 4.7.0 Too many errors")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("session goes on after the error limit: %q", got)
	}
	if n := obs.count("error limit"); n != 1 {
		t.Fatalf("error limit counted %d times, want 1", n)
	}
}

// Replies name the error precisely (RFC 5321 §4.2.4, §4.3.2): a command
// out of sequence is 503, an unknown MAIL or RCPT parameter 555, AUTH on
// a connector that offers none 502 in every state, and a line too long
// ends the session with a 421.
func TestPreciseSequenceAndParameterReplies(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	s := startServer(t, &fakeQueue{}, connectors(t, fmt.Sprintf(`
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    tls: {cert_file: %q, key_file: %q}
    limits: {max_line_length: 1000}
`, certFile, keyFile))...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1")
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "502 5.5.1")
	d.cmd("RCPT TO:<b@example.test>", "503 5.5.1")
	d.cmd("DATA", "503 5.5.1")
	d.cmd("MAIL FROM:<a@example.org> FOO=bar", "555 5.5.4")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("MAIL FROM:<a@example.org>", "503 5.5.1")
	d.cmd("RCPT TO:<b@example.test> FOO=bar", "555 5.5.4")
	d.cmd("DATA", "503 5.5.1")
	d.cmd("RSET", "250")
	d.startTLS(pool)
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "502 5.5.1")
	d.send("EHLO " + strings.Repeat("a", 2000) + "\r\n")
	d.expect("421 4.7.0")
	if got := d.reply(); !strings.HasPrefix(got, "EOF") {
		t.Fatalf("after the long line: %q", got)
	}
}

// rateBudget: each read moves the deadline n/rate on, never past
// idle_timeout after the read; with no rate a read gives a full
// idle_timeout.
func TestRateBudget(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	idle := 20 * time.Second
	var b rateBudget
	b.start(t0, idle)
	b.credit(t0, 1<<20, 500, idle) // 2097 s of credit, capped
	if want := t0.Add(idle); !b.deadline.Equal(want) {
		t.Fatalf("after a burst: %v, want %v", b.deadline, want)
	}
	b.credit(t0.Add(15*time.Second), 1, 500, idle)
	if want := t0.Add(idle + 2*time.Millisecond); !b.deadline.Equal(want) {
		t.Fatalf("after a byte: %v, want %v", b.deadline, want)
	}
	if b.expired(t0.Add(idle+time.Millisecond)) || !b.expired(t0.Add(idle+3*time.Millisecond)) {
		t.Fatal("deadline misplaced")
	}
	// Keeping up the rate keeps the deadline idle_timeout ahead.
	for i := 1; i <= 100; i++ {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		if b.expired(now) {
			t.Fatalf("a transfer at 1000 B/s expired at step %d", i)
		}
		b.credit(now, 10000, 500, idle)
	}
	b.credit(t0.Add(time.Hour), 0, 0, idle) // no rate: a full idle_timeout per read
	if want := t0.Add(time.Hour + idle); !b.deadline.Equal(want) {
		t.Fatalf("no rate: %v, want %v", b.deadline, want)
	}
}
