package smtp

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// QUIT is never a junk command nor an error, and a session at either
// limit that says QUIT gets its 221, not the limit's 421 (rt49 front
// F3): EHLO + 99 NOOP + QUIT, and 20 unknown commands + QUIT. Any other
// command past the limit still ends the session with the 421.
func TestSMTP8QuitAtLimitGets221(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_junk_commands: 100, max_errors: 20, soft_error_limit: 100}
`)...)
	for _, tc := range []struct {
		name, verb string
		n          int
		last, want string
	}{
		{"junk limit then QUIT", "NOOP", 99, "QUIT", "221 2.0.0"},
		{"junk limit then NOOP", "NOOP", 99, "NOOP", "421 4.7.0 Too many commands"},
		{"error limit then QUIT", "FOO", 20, "QUIT", "221 2.0.0"},
		{"error limit then MAIL", "FOO", 20, "MAIL FROM:<a@example.org>", "421 4.7.0 Too many errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, s, "")
			d.expect("220")
			d.cmd("EHLO c", "250")
			for i := 0; i < tc.n; i++ {
				if r := d.cmd(tc.verb, ""); strings.HasPrefix(r, "421") {
					t.Fatalf("%s #%d: %q", tc.verb, i+1, r)
				}
			}
			if r := d.cmd(tc.last, tc.want); !strings.HasPrefix(r, tc.want) {
				t.Fatalf("%s after the limit: %q, want %q", tc.last, r, tc.want)
			}
		})
	}
}

// Every refusal of a malformed path says what is wrong (README: "the
// reply saying what is wrong after `Bad recipient address syntax: `"):
// none is the bare 501 5.1.3 (5.1.7 for MAIL) — rt49 front F2.
func TestSMTP1MalformedPathRefusalNamesTheFault(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit, relay]}
    limits: {max_errors: 1000, soft_error_limit: 1000}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SMTPUTF8", "250")
	for _, tc := range []struct{ path, want string }{
		{"x@ext.test@example.test", "501 5.1.3 Bad recipient address syntax: more than one '@'"},
		{`x@ext.test\@example.test`, "501 5.1.3 Bad recipient address syntax: more than one '@'"},
		{"x@example.test%ext.test", "501 5.1.3 Bad recipient address syntax: a '%' in the domain"},
		{"x@example.test(ext.test)", "501 5.1.3 Bad recipient address syntax: a '(' in the domain"},
		{"x@ext.test,alice@example.test", "501 5.1.3 Bad recipient address syntax: more than one '@'"},
		{`x@example.test\.`, `501 5.1.3 Bad recipient address syntax: a '\' in the domain`},
		{"x@ext.test:", "501 5.1.3 Bad recipient address syntax: a ':' in the domain"},
		{"x@-a.example.test", "501 5.1.3 Bad recipient address syntax: a domain label begins with '-'"},
		{"x@a-.example.test", "501 5.1.3 Bad recipient address syntax: a domain label ends with '-'"},
		{"alice@example.test-", "501 5.1.3 Bad recipient address syntax: a domain label ends with '-'"},
		{"x@xn--example-.test", "553 5.1.3 Invalid internationalized domain name: label xn--example-"},
		{"a\x01b@example.test", "501 5.1.3 Bad recipient address syntax: a control character in the local part"},
		{"@:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route with no domain after '@'"},
		{"@,@a.test:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route with no domain after '@'"},
		{"@a.test,b.test:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route element without '@'"},
		{"postmaster@[127.0.0.0010]", "501 5.1.3 Bad recipient address syntax: the domain is in brackets but no address literal"},
		{"@a(b).test:alice@example.test", "501 5.1.3 Bad recipient address syntax: a source route domain that is no domain name"},
	} {
		r := d.cmd("RCPT TO:<"+tc.path+">", "")
		if !strings.HasPrefix(r, tc.want) {
			t.Errorf("RCPT TO:<%q>: %q, want %q", tc.path, r, tc.want)
		}
	}
	d.cmd("RSET", "250")
	for _, tc := range []struct{ path, want string }{
		{"a@b@ext.test", "501 5.1.7 Bad sender address syntax: more than one '@'"},
		{"a@ext.test,b@ext.test", "501 5.1.7 Bad sender address syntax: more than one '@'"},
		{"a@ext.test(x)", "501 5.1.7 Bad sender address syntax: a '(' in the domain"},
		{"a@-x.test", "501 5.1.7 Bad sender address syntax: a domain label begins with '-'"},
	} {
		r := d.cmd("MAIL FROM:<"+tc.path+">", "")
		if !strings.HasPrefix(r, tc.want) {
			t.Errorf("MAIL FROM:<%q>: %q, want %q", tc.path, r, tc.want)
		}
		d.cmd("RSET", "250")
	}
}

// No refusal of a path is the bare malformed-path reply: whatever RCPT
// (ParseRcptPath, RcptRefusal) or MAIL (parsePathAddress and its
// replies) refuses, the reply says what is wrong (rt49 front F2).
func FuzzPathRefusalNamesFault(f *testing.F) {
	for _, s := range []string{"x@ext.test@example.test", `x@ext.test\@example.test`, "x@example.test%ext.test",
		"x@example.test(ext.test)", "x@ext.test,alice@example.test", `x@example.test\.`, "x@ext.test:",
		"x@-a.example.test", "x@a-.example.test", "x@xn--example-.test", "alice@example.test-", "a\x01b@example.test",
		"@:alice@example.test", "<a@b", `"a`, `"a"b@c`, "a@::1", "a@b.test:25", "a@[1.2.3.4]:25", "a@[x]", "\xff@a"} {
		f.Add(s)
	}
	bare := func(r *gosmtp.SMTPError) bool {
		return r.Message == replyBadRcpt.Message || r.Message == replyBadSender.Message ||
			strings.HasSuffix(r.Message, ": ")
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, _, err := ParseRcptPath(s); err != nil {
			if r := RcptRefusal(err); bare(r) {
				t.Fatalf("RCPT TO:<%q> refused bare: %d %v %q (%v)", s, r.Code, r.EnhancedCode, r.Message, err)
			}
		}
		if _, err := parsePathAddress(s); err != nil {
			var r *gosmtp.SMTPError
			if e := idnReply(err, 7); e != nil {
				r = e.(*gosmtp.SMTPError)
			} else if r = literalReply(err, 7); r == nil {
				r = syntaxReply(err, replyBadSender)
			}
			if bare(r) {
				t.Fatalf("MAIL FROM:<%q> refused bare: %q (%v)", s, r.Message, err)
			}
		}
	})
}

// ackLeftQueue holds its message until the test lets it go, refused for
// every recipient then, and records that the sender left.
type ackLeftQueue struct {
	heldQueue
	left atomic.Int32
}

func (q *ackLeftQueue) HoldRefusal(queue.ID) func() *queue.Refusal {
	return func() *queue.Refusal {
		select {
		case <-q.gone:
			return &queue.Refusal{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user here"}
		default:
			return nil
		}
	}
}

func (q *ackLeftQueue) SenderLeft(queue.ID) { q.left.Add(1) }

// SR-9 (rt49 front F1): a client that closes its connection after its
// final dot, while it waits for the delayed acknowledgement, is noticed:
// its session ends at once and its connection slot is free for its next
// connection (max_connections_per_source: 1), not held until the next
// hop answers or max_acknowledgement_delay runs out (never, on this
// fake clock); the queue is told the sender left, and a refusal that
// comes later is logged as one nobody heard, never as the waiting
// sender's.
func TestSR9SenderLeavingDuringAckWaitFreesSlot(t *testing.T) {
	var logs lockedBuf
	clk := clock.NewFake(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	q := &ackLeftQueue{heldQueue: heldQueue{gone: make(chan struct{})}}
	s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&logs, nil)), Queue: q,
		Shadow: &fakeShadow{notes: map[string][]string{}}, ShadowEnabled: true, Connectors: connectors(t, `
  - name: edge
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: 30s
    limits: {max_connections_per_source: 1}
`)})
	const src = "127.0.0.49"
	d := dial(t, s, src)
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<bob@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	waitTimer(t, clk, 1) // the server waits for the next hop
	d.conn.Close()
	var greeting string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		n := dial(t, s, src)
		greeting = n.reply()
		n.conn.Close()
		if strings.HasPrefix(greeting, "220") {
			break
		}
	}
	if !strings.HasPrefix(greeting, "220") {
		t.Fatalf("the slot of the client that left is still held: %q", greeting)
	}
	if q.left.Load() != 1 {
		t.Fatalf("the queue was told %d times that the sender left, want 1", q.left.Load())
	}
	q.confirm() // the next hop refuses every recipient now
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "next_hop_refused_after_sender_left") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	for _, want := range []string{"sender left before its reply", "next_hop_refused_after_sender_left code=550"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "next_hop_refused_while_waiting") {
		t.Errorf("log says the sender that left got the refusal:\n%s", out)
	}
}

// rt49 front F4: idle_timeout bounds the wait for a whole command line,
// not the silence between its bytes. A client that sent part of a line
// and no CRLF within it is not idle: its 421 says what ran out — the
// command line's deadline — while a silent client's still says idle.
func TestSMTP2PartialCommandLineTimeoutNamed(t *testing.T) {
	s := startServer(t, &fakeQueue{}, connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {idle_timeout: 1s}
`)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.send("NO")
	if r := d.reply(); !strings.HasPrefix(r, "421 4.4.2 Command line not completed within idle_timeout") {
		t.Fatalf("a partial line at its deadline: %q", r)
	}
	d = dial(t, s, "")
	d.expect("220")
	if r := d.reply(); !strings.HasPrefix(r, "421 4.4.2 Idle timeout") {
		t.Fatalf("a silent client: %q", r)
	}
}
