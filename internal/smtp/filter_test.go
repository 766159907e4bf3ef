package smtp

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
)

// scripted is an edge check whose verdicts the test sets per stage.
type scripted struct {
	connect, helo, mail, rcpt, data Verdict
	edit                            func(t *Transaction)
	seen                            []string
}

func (c *scripted) Name() string { return "scripted" }
func (c *scripted) Connect(_ context.Context, i *ConnInfo) Verdict {
	c.seen = append(c.seen, "connect "+i.IP.String())
	return c.connect
}
func (c *scripted) Helo(_ context.Context, _ *ConnInfo, name string) Verdict {
	c.seen = append(c.seen, "helo "+name)
	return c.helo
}
func (c *scripted) Mail(_ context.Context, _ *ConnInfo, from string, _ *gosmtp.MailOptions) Verdict {
	c.seen = append(c.seen, "mail "+from)
	return c.mail
}
func (c *scripted) Rcpt(_ context.Context, _ *ConnInfo, _, to string) Verdict {
	c.seen = append(c.seen, "rcpt "+to)
	return c.rcpt
}
func (c *scripted) Data(_ context.Context, _ *ConnInfo, t *Transaction) Verdict {
	c.seen = append(c.seen, "data")
	if c.edit != nil {
		c.edit(t)
	}
	return c.data
}

func startWithChecks(t *testing.T, q Queue, checks ...Check) *Server {
	t.Helper()
	conns := connectors(t, `
  - name: internet
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: q,
		Checks: func(config.ReceiveConnector) ([]Check, error) { return checks, nil }})
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
	return s
}

func checkRefuse(code int, enh gosmtp.EnhancedCode, msg string) Verdict {
	return Verdict{Reply: &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}}
}

// EDGE: a check runs at every stage, in order, and its refusal is the
// command's reply.
func TestChecksRunAtEveryStage(t *testing.T) {
	ck := &scripted{}
	q := &fakeQueue{}
	s := startWithChecks(t, q, ck)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	want := "connect 127.0.0.1|helo client.test|mail a@sender.test|rcpt u@example.test|data"
	if got := strings.Join(ck.seen, "|"); got != want {
		t.Fatalf("stages = %s, want %s", got, want)
	}
	if q.count() != 1 {
		t.Fatalf("queued %d", q.count())
	}
}

func TestCheckRefusals(t *testing.T) {
	t.Run("connect 554 answers the greeting command", func(t *testing.T) {
		s := startWithChecks(t, &fakeQueue{}, &scripted{connect: checkRefuse(554, gosmtp.EnhancedCode{5, 7, 1}, "listed")})
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.test", "554 5.7.1 listed")
		d.cmd("MAIL FROM:<a@sender.test>", "503 5.5.1") // no session: EHLO first
	})
	t.Run("connect 421 hangs up", func(t *testing.T) {
		s := startWithChecks(t, &fakeQueue{}, &scripted{connect: checkRefuse(421, gosmtp.EnhancedCode{4, 7, 0}, "too many connections")})
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.test", "421 4.7.0")
		if got := d.reply(); !strings.HasPrefix(got, "EOF") {
			t.Fatalf("connection still open: %q", got)
		}
	})
	t.Run("mail and rcpt", func(t *testing.T) {
		ck := &scripted{mail: checkRefuse(450, gosmtp.EnhancedCode{4, 7, 1}, "slow down")}
		s := startWithChecks(t, &fakeQueue{}, ck)
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.test", "250")
		d.cmd("MAIL FROM:<a@sender.test>", "450 4.7.1 slow down")
		d.cmd("RCPT TO:<u@example.test>", "503 5.5.1") // no transaction
		ck.mail = Verdict{}
		ck.rcpt = checkRefuse(550, gosmtp.EnhancedCode{5, 7, 1}, "no")
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<u@example.test>", "550 5.7.1 no")
	})
	t.Run("data refusal queues nothing", func(t *testing.T) {
		q := &fakeQueue{}
		s := startWithChecks(t, q, &scripted{data: checkRefuse(550, gosmtp.EnhancedCode{5, 7, 1}, "spam")})
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO client.test", "250")
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<u@example.test>", "250")
		d.cmd("DATA", "354")
		d.cmd("Subject: x\r\n\r\nhello\r\n.", "550 5.7.1 spam")
		if q.count() != 0 {
			t.Fatal("a refused message was queued")
		}
	})
}

// A Data check edits the message and the recipients; quarantine marks
// the queued message; discard queues nothing but answers 250.
func TestCheckEditsQuarantineDiscard(t *testing.T) {
	ck := &scripted{edit: func(t *Transaction) {
		t.Content = append([]byte("X-Spam: yes\r\n"), t.Content...)
		t.Rcpts = append(t.Rcpts[:0], "v@example.test")
	}, data: Verdict{Quarantine: "spam score 12"}}
	q := &fakeQueue{}
	s := startWithChecks(t, q, ck)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test> NOTIFY=NEVER", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	if q.count() != 1 {
		t.Fatalf("queued %d", q.count())
	}
	m, body := q.msgs[0], q.bodies[0]
	if m.Quarantine != "spam score 12" {
		t.Fatalf("quarantine = %q", m.Quarantine)
	}
	if len(m.Rcpts) != 1 || m.Rcpts[0].Addr != "v@example.test" || m.Rcpts[0].Notify != 0 {
		t.Fatalf("rcpts = %+v", m.Rcpts)
	}
	if !bytes.HasPrefix(body, []byte("Received:")) || !bytes.Contains(body, []byte("\r\nX-Spam: yes\r\nSubject: x\r\n")) {
		t.Fatalf("body = %q", body)
	}

	// The next transaction starts clean: quarantine was the message's.
	ck.edit, ck.data = nil, Verdict{Discard: true}
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: y\r\n\r\nhello\r\n.", "250")
	if q.count() != 1 {
		t.Fatal("a discarded message was queued")
	}
	ck.data = Verdict{}
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: z\r\n\r\nhello\r\n.", "250")
	if q.count() != 2 || q.msgs[1].Quarantine != "" {
		t.Fatalf("after a discard: %d queued, quarantine %q", q.count(), q.msgs[len(q.msgs)-1].Quarantine)
	}
}

// A second MAIL inside an open transaction is refused (503 5.5.1) and
// leaves the open transaction whole; no check sees it.
func TestNestedMailRefused(t *testing.T) {
	ck := &scripted{}
	q := &fakeQueue{}
	s := startWithChecks(t, q, ck)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<first@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("MAIL FROM:<second@sender.test>", "503 5.5.1")
	d.cmd("RCPT TO:<v@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	if q.count() != 1 || q.msgs[0].From != "first@sender.test" || len(q.msgs[0].Rcpts) != 2 {
		t.Fatalf("queued %+v", q.msgs)
	}
	for _, st := range ck.seen {
		if st == "mail second@sender.test" {
			t.Fatal("a check saw the refused nested MAIL")
		}
	}
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<third@sender.test>", "250")
}
