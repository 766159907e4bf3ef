package smtp

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// perSession is a SessionCheck that records its sessions' life.
type perSession struct {
	mu      sync.Mutex
	log     []string
	refuse  bool // refuse the greeting
	opened  int
	closedC chan struct{}
}

func (p *perSession) Name() string { return "per-session" }

func (p *perSession) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, s)
}

func (p *perSession) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "|")
}

func (p *perSession) Open(_ context.Context, c *ConnInfo) CheckSession {
	p.mu.Lock()
	p.opened++
	n := p.opened
	p.mu.Unlock()
	p.note("open")
	if c.Port == 0 {
		p.note("no port")
	}
	return &perSessionState{p: p, n: n}
}

type perSessionState struct {
	p *perSession
	n int
}

func (s *perSessionState) Name() string { return "per-session" }
func (s *perSessionState) Connect(_ context.Context, _ *ConnInfo) Verdict {
	s.p.note("connect")
	if s.p.refuse {
		return checkRefuse(554, [3]int{5, 7, 1}, "no")
	}
	return Verdict{}
}
func (s *perSessionState) Data(_ context.Context, _ *ConnInfo, t *Transaction) Verdict {
	s.p.note("data " + t.QueueID)
	return Verdict{}
}
func (s *perSessionState) Reset() { s.p.note("reset") }
func (s *perSessionState) Close() {
	s.p.note("close")
	if s.p.closedC != nil {
		s.p.closedC <- struct{}{}
	}
}

// A SessionCheck's state lives from the greeting to the end of the
// connection, hears of each transaction's end, and is closed at once
// when its greeting is refused.
func TestSessionCheckLife(t *testing.T) {
	p := &perSession{closedC: make(chan struct{}, 4)}
	q := &fakeQueue{}
	s := startWithChecks(t, q, p)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("RSET", "250")
	d.cmd("MAIL FROM:<a@sender.test>", "250")
	d.cmd("RCPT TO:<u@example.test>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: x\r\n\r\nhello\r\n.", "250")
	d.cmd("QUIT", "221")
	select {
	case <-p.closedC:
	case <-time.After(10 * time.Second):
		t.Fatal("not closed at the end of the session")
	}
	got := p.seen()
	if !strings.HasPrefix(got, "open|connect|") || !strings.Contains(got, "|data "+q.msgs[0].ID.String()+"|reset|") ||
		!strings.HasSuffix(got, "|close") || strings.Contains(got, "no port") || strings.Count(got, "open") != 1 {
		t.Fatalf("life: %s", got)
	}

	p2 := &perSession{refuse: true, closedC: make(chan struct{}, 4)}
	s2 := startWithChecks(t, &fakeQueue{}, p2)
	d2 := dial(t, s2, "")
	d2.expect("220")
	d2.cmd("EHLO client.test", "554 5.7.1 no")
	select {
	case <-p2.closedC:
	case <-time.After(10 * time.Second):
		t.Fatal("a refused greeting's state was not closed")
	}
}
