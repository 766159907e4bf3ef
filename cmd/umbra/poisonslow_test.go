package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// stallSink is a next hop that takes the whole message and then keeps
// its reply to the end of it for as long as stall is set (a slow
// mailbox); reached is signalled each time a body is in.
type stallSink struct {
	mu        sync.Mutex
	stall     bool
	stallRcpt bool // keep the reply to RCPT instead (a tarpit)
	release   chan struct{}
	reached   chan string
	r         *recorder
}

type stallSession struct{ s *stallSink }

func (s *stallSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *stallSession) Rcpt(string, *gosmtp.RcptOptions) error {
	s.s.mu.Lock()
	stall := s.s.stall && s.s.stallRcpt
	s.s.mu.Unlock()
	if !stall {
		return nil
	}
	s.s.reached <- "rcpt"
	select {
	case <-s.s.release:
	case <-time.After(2 * time.Minute):
	}
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "too slow"}
}
func (s *stallSession) Reset()        {}
func (s *stallSession) Logout() error { return nil }
func (s *stallSession) Data(rd io.Reader) error {
	b, _ := io.ReadAll(rd)
	s.s.mu.Lock()
	stall := s.s.stall
	s.s.mu.Unlock()
	subj := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			subj = v
			break
		}
	}
	if stall {
		s.s.reached <- subj
		select {
		case <-s.s.release:
		case <-time.After(2 * time.Minute):
		}
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "too slow"}
	}
	return (&recSession{r: s.s.r}).Data(strings.NewReader(string(b)))
}

// F7: two kill -9s while the next hop keeps the reply to the end of the
// message, or to RCPT (each during a pending reply, the second during
// the retried attempt) do not park the acknowledged message in the poison queue: a
// crash counts against a message only while umbra's own code processes
// it. After the third start it is delivered. Both a relay (SMTP to a
// smart host) and final delivery (LMTP to the mailbox) are tried.
func TestKill9TwiceDuringSlowReplyDoesNotPoison(t *testing.T) {
	t.Parallel()
	t.Run("smtp", func(t *testing.T) { kill9TwiceDuringSlowReply(t, false, false) })
	t.Run("lmtp", func(t *testing.T) { kill9TwiceDuringSlowReply(t, true, false) })
	t.Run("rcpt-tarpit", func(t *testing.T) { kill9TwiceDuringSlowReply(t, false, true) })
}

func kill9TwiceDuringSlowReply(t *testing.T, lmtp, atRcpt bool) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sink := &stallSink{stall: true, stallRcpt: atRcpt, release: make(chan struct{}), reached: make(chan string, 4)}
	sink.r = &recorder{seen: map[string]int{}, bodies: map[string]string{}} // counts what is answered 250
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &stallSession{s: sink}, nil }))
	srv.Domain, srv.ErrorLog, srv.LMTP = "slow.test", nopLog{}, lmtp
	ln := testsupport.Listen(t, sinkAddr)
	go srv.Serve(ln)
	t.Cleanup(func() { close(sink.release); srv.Close() })
	cfg := relayConfig(t, dir, listen, sinkAddr)
	rcpt := "b@remote.example"
	if lmtp {
		editConfig(t, cfg, "mailbox:\n  maildir: maildir\n", fmt.Sprintf("mailbox: {lmtp: %q}\n", sinkAddr))
		rcpt = "x@example.test"
	}
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{rcpt}, strings.NewReader("Subject: slow-1\r\n\r\n"+strings.Repeat("slow\r\n", 100))); err != nil {
		t.Fatalf("not acknowledged: %v", err)
	}
	c.Quit()
	for crash := 1; crash <= 2; crash++ {
		select {
		case <-sink.reached: // the whole message (or the RCPT) is in; its reply is pending
		case <-time.After(30 * time.Second):
			d.dumpLog()
			t.Fatalf("crash %d: the message never reached the next hop", crash)
		}
		time.Sleep(100 * time.Millisecond)
		d.kill()
		if crash == 1 {
			d = startUmbra(t, cfg, listen)
		}
	}
	sink.mu.Lock()
	sink.stall = false
	sink.mu.Unlock()
	d = startUmbra(t, cfg, listen)
	waitArrived(t, sink.r, []string{"slow-1"}, d)
	if out, code := cli(t, cfg, "message", "list", "--state", "poison"); code != 0 || strings.Contains(out, "poison") {
		t.Fatalf("message list --state poison: rc %d\n%s", code, out)
	}
}
