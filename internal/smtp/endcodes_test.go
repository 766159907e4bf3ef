package smtp

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// waitEnded waits (bounded) for a "session ended" line with reason why
// and returns it, "" if none came.
func waitEnded(buf *syncBuffer, why string) string {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, l := range buf.lines(`msg="session ended"`) {
			if strings.Contains(l, `reason="`+why+`"`) || strings.Contains(l, "reason="+why+" ") {
				return l
			}
		}
	}
	return ""
}

// SMTP-8, OPS (front38 F3): every session umbra ends with a reply logs
// that reply beside its reason on its "session ended" line (code=421
// enhanced_code=4.7.0), as every refusal line does
// (TestRefusalLogNamesTheReply): a line over max_line_length, the error,
// junk and recipient limits, max_transaction_time, a body under
// min_data_rate or past max_data_time, the idle timeout.
func TestSessionEndedLogNamesTheReply(t *testing.T) {
	line := strings.Repeat("x", 998) + "\r\n"
	for _, tc := range []struct {
		name, limits, why, reply string
		run                      func(d *dialog, clk *clock.Fake)
	}{
		{"line length", "max_line_length: 1000", "line length", "421 4.7.0", func(d *dialog, _ *clock.Fake) {
			d.send("NOOP " + strings.Repeat("A", 3000) + "\r\n")
		}},
		{"errors", "max_errors: 3", "error limit", "421 4.7.0", func(d *dialog, _ *clock.Fake) {
			d.send("FOO\r\nFOO\r\nFOO\r\nFOO\r\n")
		}},
		{"junk", "max_junk_commands: 5", "junk command limit", "421 4.7.0", func(d *dialog, _ *clock.Fake) {
			d.send(strings.Repeat("NOOP\r\n", 7))
		}},
		{"recipients", "max_recipients: 1", "recipient limit", "421 4.5.3", func(d *dialog, _ *clock.Fake) {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.send(strings.Repeat("RCPT TO:<b@example.test>\r\n", rcptOvershootLimit+3))
		}},
		{"transaction time", "max_transaction_time: 4s", "transaction time", "421 4.4.2", func(d *dialog, clk *clock.Fake) {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			clk.Advance(5 * time.Second)
			d.send("RCPT TO:<b@example.test>\r\n")
		}},
		{"data rate", "idle_timeout: 20s, min_data_rate: 500", "data rate", "421 4.4.2", func(d *dialog, clk *clock.Fake) {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send("Subject: r\r\n\r\n")
			time.Sleep(20 * time.Millisecond)
			clk.Advance(time.Minute)
			d.send(line)
		}},
		{"data time", "idle_timeout: 20s, min_data_rate: 500, max_data_time: 1m", "data time", "421 4.4.2", func(d *dialog, clk *clock.Fake) {
			d.cmd("MAIL FROM:<a@example.org>", "250")
			d.cmd("RCPT TO:<b@example.test>", "250")
			d.cmd("DATA", "354")
			d.send("Subject: r\r\n\r\n")
			for i := 0; i < 90; i++ {
				d.send(line)
				time.Sleep(2 * time.Millisecond)
				clk.Advance(time.Second)
			}
		}},
		{"idle timeout", "idle_timeout: 1s", "idle timeout", "421 4.4.2", func(d *dialog, _ *clock.Fake) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
			var buf syncBuffer
			s := startWith(t, ServerConfig{Clock: clk, Log: slog.New(slog.NewTextHandler(&buf, nil)), Connectors: connectors(t, `
  - name: front
    bindings: ["`+frontAddr(t)+`"]
    permissions: {anonymous: [submit]}
    limits: {`+tc.limits+`}
`)})
			d := dial(t, s, "127.0.0.124")
			d.expect("220")
			d.cmd("EHLO c.test", "250")
			tc.run(d, clk)
			for {
				r := d.reply()
				if strings.HasPrefix(lastLine(r), tc.reply) {
					break
				}
				if strings.HasPrefix(r, "EOF") {
					t.Fatalf("no %q before the end", tc.reply)
				}
			}
			l := waitEnded(&buf, tc.why)
			if l == "" {
				t.Fatalf("no session ended line for %q:\n%s", tc.why, strings.Join(buf.lines(""), "\n"))
			}
			code, enh, _ := strings.Cut(tc.reply, " ")
			if !strings.Contains(l, "code="+code) || !strings.Contains(l, "enhanced_code="+enh) {
				t.Errorf("the session ended line does not name the reply %s: %s", tc.reply, l)
			}
		})
	}
}

// The same for the sessions a drain ends: one idle at its start and one
// whose MAIL comes after it, behind its transaction's final dot: each
// logs the 421 4.3.2 it was given.
func TestSessionEndedByDrainLogNamesTheReply(t *testing.T) {
	var buf syncBuffer
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Routing: testTable(), Queue: &fakeQueue{},
		Log: slog.New(slog.NewTextHandler(&buf, nil)), Connectors: connectors(t, `
  - name: front
    bindings: ["`+frontAddr(t)+`"]
    permissions: {anonymous: [submit]}
`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	busy := dial(t, s, "127.0.0.124")
	busy.expect("220")
	busy.openData()
	idle := dial(t, s, "127.0.0.124")
	idle.expect("220")
	idle.cmd("EHLO c.test", "250")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { s.Shutdown(ctx); close(done) }()
	idle.expect("421 4.3.2")
	busy.send("Subject: t\r\n\r\nhi\r\n.\r\nMAIL FROM:<a@example.org>\r\n")
	for r := busy.reply(); !strings.HasPrefix(r, "421 4.3.2"); r = busy.reply() {
		if strings.HasPrefix(r, "EOF") {
			t.Fatal("the session in a transaction got no 421 4.3.2")
		}
	}
	<-done
	// One line each: the idle session's, and the other's for the 421 it
	// got — its MAIL's, or the drain's where the drain found it between
	// its 250 and that MAIL.
	ended := buf.lines(`msg="session ended"`)
	if len(ended) < 2 {
		t.Fatalf("want a session ended line for each session, got:\n%s", strings.Join(buf.lines(""), "\n"))
	}
	for _, l := range ended {
		if !strings.Contains(l, "code=421") || !strings.Contains(l, "enhanced_code=4.3.2") {
			t.Errorf("the drain's end does not name its reply: %s", l)
		}
	}
}
