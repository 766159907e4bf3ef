package smtp

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// commandObserver records the command replies the server reports.
type commandObserver struct {
	nopObserver
	mu  sync.Mutex
	got map[string]int // "command class", e.g. "DATA 4xx"
}

func (o *commandObserver) Command(_, command string, code int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got[fmt.Sprintf("%s %dxx", command, code/100)]++
}

func (o *commandObserver) snapshot() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for k, n := range o.got {
		out = append(out, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// umbra_smtp_commands_total counts the replies the client was sent, the
// same way on every path: a client that hangs up in the middle of a DATA
// body or a BDAT chunk was sent no reply to it, and none is counted; the
// layer's own replies (a SIZE or BDAT refusal) are counted like
// go-smtp's; a finished DATA and a finished BDAT LAST are each counted
// once.
func TestCommandMetricCountsRepliesSent(t *testing.T) {
	obs := &commandObserver{got: map[string]int{}}
	var buf syncBuffer
	s := startWith(t, ServerConfig{Observer: obs, Log: slog.New(slog.NewTextHandler(&buf, nil)),
		Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_message_size: 3000}
`)})
	waitDisconnects := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(buf.lines("msg=disconnect")) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions ended, want %d", len(buf.lines("msg=disconnect")), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	check := func(step, want string) {
		t.Helper()
		if got := obs.snapshot(); got != want {
			t.Fatalf("%s: counted %q, want %q", step, got, want)
		}
	}

	// DATA cut off in the body: no reply was sent.
	d := dial(t, s, "127.0.0.21")
	d.expect("220")
	d.openData()
	d.send("Subject: x\r\n")
	d.conn.Close()
	waitDisconnects(1)
	check("DATA cut off", "EHLO 2xx=1 MAIL 2xx=1 RCPT 2xx=1 none 2xx=1")

	// BDAT cut off in a chunk: no reply either.
	d = dial(t, s, "127.0.0.22")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 100 LAST\r\nSubject: x\r\n")
	d.conn.Close()
	waitDisconnects(2)
	check("BDAT cut off", "EHLO 2xx=2 MAIL 2xx=2 RCPT 2xx=2 none 2xx=2")

	// Replies that were sent: the layer's refusals and finished messages.
	d = dial(t, s, "127.0.0.23")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org> SIZE=999999", "552 5.3.4")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 14 LAST\r\nSubject: y\r\n\r\n")
	d.expect("250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.send("BDAT 5000 LAST\r\n" + strings.Repeat("x", 5000))
	d.expect("552 5.3.4")
	d.cmd("QUIT", "221")
	waitDisconnects(3)
	check("replies sent", "BDAT 2xx=1 BDAT 5xx=1 DATA 2xx=1 EHLO 2xx=3 MAIL 2xx=5 MAIL 5xx=1 QUIT 2xx=1 RCPT 2xx=5 none 2xx=3")
}

// Every reply written is counted once: under the command it answers —
// one refused before it ran (a line too long, a bare LF) included — or
// under "none" when it answers no command (the greeting, the 421 of the
// error limit, sent before the next command is read). An unknown verb
// is "other", never its own label.
func TestCommandMetricCountsEveryReply(t *testing.T) {
	obs := &commandObserver{got: map[string]int{}}
	s := startWith(t, ServerConfig{Observer: obs, Connectors: connectors(t, `
  - name: default
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
    limits: {max_line_length: 1000, max_errors: 3}
`)})
	want := func(step, w string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for obs.snapshot() != w && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := obs.snapshot(); got != w {
			t.Fatalf("%s: counted %q, want %q", step, got, w)
		}
	}
	d := dial(t, s, "127.0.0.31")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.send("RCPT TO:<" + strings.Repeat("x", 1100) + "@example.test>\r\n")
	d.expect("421 4.7.0")
	want("a line too long", "EHLO 2xx=1 MAIL 2xx=1 RCPT 4xx=1 none 2xx=1")

	d = dial(t, s, "127.0.0.32")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("FROB", "500")
	d.send("NOOP\nNOOP\r\n")
	d.expect("500 5.5.2")
	d.cmd("MAIL FROM:<bad", "501")
	d.cmd("NOOP", "421 4.7.0") // the limit is judged at the next command, whose reply the 421 is
	want("the error limit", "EHLO 2xx=2 MAIL 2xx=1 MAIL 5xx=1 NOOP 4xx=1 NOOP 5xx=1 RCPT 4xx=1 none 2xx=2 other 5xx=1")
}
