package smtp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
)

// panicObserver counts the sessions that panicked.
type panicObserver struct {
	nopObserver
	mu     sync.Mutex
	panics map[string]int
}

func (o *panicObserver) SessionPanic(connector string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.panics == nil {
		o.panics = map[string]int{}
	}
	o.panics[connector]++
}

func (o *panicObserver) count(connector string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.panics[connector]
}

// panicCheck panics at the recipient "boom@…" and, at end of data, for
// a message whose subject says boom; it streams bodies, so that a large
// body is spooled before it runs.
type panicCheck struct{}

func (panicCheck) Name() string      { return "boom" }
func (panicCheck) StreamsBody() bool { return true }
func (panicCheck) Rcpt(_ context.Context, _ *ConnInfo, _, to string) Verdict {
	if strings.HasPrefix(to, "boom@") {
		panic("check exploded")
	}
	return Verdict{}
}
func (panicCheck) Data(_ context.Context, _ *ConnInfo, t *Transaction) Verdict {
	if strings.Contains(string(t.Content), "Subject: boom") {
		panic("check exploded at end of data")
	}
	return Verdict{}
}

// A panic inside a session (here a check's) is recovered: its client
// gets 421 and the end of the stream, and the daemon serves on. It is
// counted every time (umbra_smtp_session_panics_total) and logged at
// ERROR at most once a minute with its stack — never a stack per
// connection, which let any client that can make a session panic flood
// the log (rt26b F1: 20 connections, 20 stacks) — the next line saying
// how many were left out.
func TestSessionPanicLoggedOnceAndCounted(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	obs := &panicObserver{}
	var buf syncBuffer
	s := startWith(t, ServerConfig{Connectors: connectors(t, endConnector), Observer: obs, Clock: clk,
		Log:    slog.New(slog.NewTextHandler(&buf, nil)),
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{panicCheck{}}, nil }})
	const n = 20
	for i := 0; i < n; i++ {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c.test", "250")
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.send("RCPT TO:<boom@example.test>\r\n")
		if got := d.reply(); got != "421 4.0.0 Internal server error" {
			t.Fatalf("reply to the RCPT that panicked: %q", got)
		}
		if got := d.reply(); !strings.HasPrefix(got, "EOF") {
			t.Fatalf("after the 421: %q, want the end of the stream", got)
		}
	}
	waitFor(t, func() bool { return obs.count("front") == n }, "every panic counted")
	lines := buf.lines("panic")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for %d panics, want 1:\n%s", len(lines), n, strings.Join(lines, "\n"))
	}
	if l := lines[0]; !strings.Contains(l, "level=ERROR") || !strings.Contains(l, `msg="session panicked"`) ||
		!strings.Contains(l, "check exploded") || !strings.Contains(l, "stack=") || !strings.Contains(l, "connector=front") {
		t.Errorf("panic line %q: want ERROR, the panic, its stack and the connector", l)
	}
	if l := lines[0]; !strings.Contains(l, "code=421 enhanced_code=4.0.0") {
		// front38 F3's sibling: the session's end names the reply it got.
		t.Errorf("panic line %q: want the 421 4.0.0 the session was ended with", l)
	}
	// A minute on, the next panic is logged again, with the count of
	// those left out.
	clk.Advance(time.Minute)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<boom@example.test>", "421")
	waitFor(t, func() bool { return len(buf.lines("panic")) == 2 }, "the next panic logged")
	if l := buf.lines("panic")[1]; !strings.Contains(l, fmt.Sprintf("suppressed=%d", n-1)) {
		t.Errorf("second panic line %q: want suppressed=%d", l, n-1)
	}
	// The daemon serves on.
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
}

// A panic at the end of data, with the body already in a spool file,
// leaves nothing behind: no message is queued (the client was told 421,
// not 250) and the spool file is removed.
func TestSessionPanicLeavesNoSpoolFile(t *testing.T) {
	st, spool := spoolStore(t)
	q := &bodyQueue{}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, endConnector), Routing: testTable(), Queue: q,
		Spool: st.NewSpool, SpoolThreshold: 1024, Log: slog.New(slog.DiscardHandler),
		Checks: func(config.ReceiveConnector) ([]Check, error) { return []Check{panicCheck{}}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: boom\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 200) + ".\r\n")
	if got := d.reply(); got != "421 4.0.0 Internal server error" {
		t.Fatalf("reply to the body whose check panicked: %q", got)
	}
	d.closed()
	waitSpoolFiles(t, spool, 0)
	if n := q.count(); n != 0 {
		t.Errorf("%d messages queued from a transaction answered 421", n)
	}
	// The next session's message is taken (and its spool file with it).
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: fine\r\n\r\n"+strings.Repeat(strings.Repeat("x", 70)+"\r\n", 200)+".", "250")
	if n := q.count(); n != 1 {
		t.Errorf("%d messages queued, want 1", n)
	}
	q.bmu.Lock()
	defer q.bmu.Unlock()
	if len(q.spooled) != 1 || !q.spooled[0] {
		t.Errorf("the body was not spooled (%v): the test would not show a spool file removed", q.spooled)
	}
}

// A client that resets its connection ends its session quietly: the
// disconnect line says so, and no WARN line per connection is written
// (go-smtp logged "error handling …: connection reset by peer" for each).
func TestConnectionResetLogsNoWarning(t *testing.T) {
	var buf syncBuffer
	s := startWith(t, ServerConfig{Connectors: connectors(t, endConnector), Log: slog.New(slog.NewTextHandler(&buf, nil))})
	for i := 0; i < 5; i++ {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c.test", "250")
		d.conn.(*net.TCPConn).SetLinger(0)
		d.conn.Close() // a reset
	}
	waitFor(t, func() bool { return len(buf.lines("msg=disconnect")) == 5 }, "every session's disconnect line")
	// The disconnect line is written as the connection closes, before
	// go-smtp returns; wait for its goroutines too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	if w := buf.lines("level=WARN"); len(w) > 0 {
		t.Errorf("a reset connection logged at WARN:\n%s", strings.Join(w, "\n"))
	}
}

// waitFor waits (bounded) until cond holds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// panicShadow is fakeShadow whose Discards panics.
type panicShadow struct{ fakeShadow }

func (*panicShadow) Discards(string, int) ([]string, func()) { panic("discards exploded") }

// A panic in what the verb layer runs itself — here the shadow verbs'
// XQUERYDISCARD, answered below go-smtp, outside go-smtp's recover —
// ends that session as a panic go-smtp recovers does (421 4.0.0, the end
// of the stream, counted, logged once a minute), instead of ending the
// daemon with every session and delivery in it.
func TestVerbLayerPanicEndsTheSessionOnly(t *testing.T) {
	obs := &panicObserver{}
	var buf syncBuffer
	sh := &panicShadow{}
	s := startWith(t, ServerConfig{Connectors: transportConnector(t, ""), Observer: obs, Shadow: sh, ShadowEnabled: true,
		Log: slog.New(slog.NewTextHandler(&buf, nil))})
	for i := 0; i < 3; i++ {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2", "250")
		d.send("XQUERYDISCARD 2\r\nNOOP\r\n")
		if got := d.reply(); got != "421 4.0.0 Internal server error" {
			t.Fatalf("reply to the XQUERYDISCARD that panicked: %q", got)
		}
		if got := d.reply(); !strings.HasPrefix(got, "EOF") {
			t.Fatalf("after the 421: %q, want the end of the stream", got)
		}
	}
	waitFor(t, func() bool { return obs.count("transport") == 3 }, "every panic counted")
	if lines := buf.lines("panic"); len(lines) != 1 || !strings.Contains(lines[0], "discards exploded") || !strings.Contains(lines[0], "stack=") {
		t.Errorf("panic log lines, want one with the panic and its stack:\n%s", strings.Join(lines, "\n"))
	}
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c.test", "250")
}
