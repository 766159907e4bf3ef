package main

import (
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// rcptSink is a real SMTP server that records each (recipient, subject)
// delivered and answers 452 4.2.2 to the RCPT of one address while defer
// is set: a next hop that takes some recipients of a message and defers
// another.
type rcptSink struct {
	mu     sync.Mutex
	seen   map[string]int // "rcpt subject" -> deliveries
	defer_ string
	defOn  atomic.Bool
	srv    *gosmtp.Server
}

func startRcptSink(t *testing.T, addr, deferred string) *rcptSink {
	t.Helper()
	s := &rcptSink{seen: map[string]int{}, defer_: deferred}
	s.defOn.Store(true)
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &rcptSinkSession{s: s}, nil }))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = nopLog{}
	ln := testsupport.Listen(t, addr)
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *rcptSink) count(rcpt, subj string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[rcpt+" "+subj]
}

type rcptSinkSession struct {
	s     *rcptSink
	rcpts []string
}

func (x *rcptSinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (x *rcptSinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if to == x.s.defer_ && x.s.defOn.Load() {
		return &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "mailbox full, try later"}
	}
	x.rcpts = append(x.rcpts, to)
	return nil
}
func (x *rcptSinkSession) Reset()        { x.rcpts = nil }
func (x *rcptSinkSession) Logout() error { return nil }
func (x *rcptSinkSession) Data(rd io.Reader) error {
	b, _ := io.ReadAll(rd)
	subj := ""
	for _, line := range strings.Split(string(b), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Subject: "); ok {
			subj = v
			break
		}
	}
	x.s.mu.Lock()
	for _, r := range x.rcpts {
		x.s.seen[r+" "+subj]++
	}
	x.s.mu.Unlock()
	return nil
}

// Duplicate window 1, closed between servers of shadow verb version 9:
// hub-b (primary) delivers two recipients of a message relayed from
// hub-a while the next hop defers the third with 452; its results commit
// writes a partial discard, hub-a marks those two done in its copy, and
// after hub-b is killed -9 for good hub-a takes over and delivers only
// the deferred one. Each recipient reaches the sink exactly once.
func TestPartialDiscardNoRedelivery(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	const late = "late@remote.example"
	rcpts := []string{"one@remote.example", "two@remote.example", late}
	sink := startRcptSink(t, p.sink, late)
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	a.dumpLogIfFailed()
	b.dumpLogIfFailed()
	const subj = "partial-1"
	msg := "From: a@example.org\r\nTo: one@remote.example\r\nSubject: " + subj + "\r\n\r\nhello\r\n"
	if r := rawSend(t, p.a, "a@example.org", rcpts, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	waitCond(t, "hub-b to deliver the two accepted recipients", 60*time.Second, func() bool {
		return sink.count(rcpts[0], subj) == 1 && sink.count(rcpts[1], subj) == 1
	})
	// hub-a applies the partial discard at its next query of hub-b (a
	// heartbeat a second later at most, or its watch session): one
	// event per recipient settled in its copy.
	waitCond(t, "hub-a to apply hub-b's partial discard", 30*time.Second, func() bool {
		out, _ := cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org")
		return strings.Count(out, "partial discard notification from hub-b") == 2
	})
	b.kill()
	os.RemoveAll(p.dataB)
	sink.defOn.Store(false)
	// hub-a takes over after three failed heartbeats; with no hub of
	// site b the route is the send connector's smart host through hub-b:
	// a new hub-b (new database) relays what hub-a resubmits.
	waitCond(t, "the takeover", 60*time.Second, func() bool {
		shadow, pending := p.held(t, p.cfgA, "hub-b")
		return shadow == 0 && pending == 1
	})
	startUmbra(t, p.cfgB, p.b)
	waitCond(t, "the deferred recipient delivered by the takeover", 60*time.Second, func() bool {
		return sink.count(late, subj) == 1
	})
	// Settle: nothing else may be sent.
	waitCond(t, "hub-a's queue to empty", 60*time.Second, func() bool { return len(p.queued(t, p.cfgA)) == 0 })
	for _, r := range rcpts {
		if n := sink.count(r, subj); n != 1 {
			t.Errorf("%s received the message %d times, want 1", r, n)
		}
	}
}
