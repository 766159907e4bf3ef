package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// scripted is an SMTP server on loopback for one session that answers
// recipients from a map. With pipelining it advertises PIPELINING and
// answers nothing of a group before it has read the whole group up to
// DATA — a client that waited for each reply would never get one. Without
// it, it answers every command at once and notes when a command arrived
// with another one already behind it (which a lock-step client never
// sends).
type scripted struct {
	pipelining bool
	refuse     map[string]string // recipient → reply

	mu       sync.Mutex
	early    []string // commands that arrived before the reply to the one before
	rcpts    []string // accepted
	mails    int      // MAIL commands: transactions begun
	body     string
	finished bool
}

func (s *scripted) start(t *testing.T) string {
	t.Helper()
	return s.startAt(t, "127.0.0.3:0")
}

// startAt is start listening on addr.
func (s *scripted) startAt(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		s.serve(c)
	}()
	return ln.Addr().String()
}

func (s *scripted) serve(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(l string) { c.Write([]byte(l + "\r\n")) }
	say("220 scripted.test ESMTP")
	var pending []string // replies held until DATA (pipelining)
	reply := func(l string) {
		if s.pipelining {
			pending = append(pending, l)
			return
		}
		say(l)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		if !s.pipelining && r.Buffered() > 0 {
			s.mu.Lock()
			s.early = append(s.early, cmd)
			s.mu.Unlock()
		}
		verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
		switch verb {
		case "EHLO":
			ext := "250-scripted.test\r\n250-8BITMIME\r\n"
			if s.pipelining {
				ext += "250-PIPELINING\r\n"
			}
			c.Write([]byte(ext + "250 SIZE 100000\r\n"))
		case "MAIL":
			s.mu.Lock()
			s.mails++
			s.mu.Unlock()
			reply("250 2.1.0 ok")
		case "RCPT":
			addr := strings.Trim(strings.SplitN(cmd, ":", 2)[1], "<> ")
			if rep, ok := s.refuse[addr]; ok {
				reply(rep)
				continue
			}
			s.mu.Lock()
			s.rcpts = append(s.rcpts, addr)
			s.mu.Unlock()
			reply("250 2.1.5 ok")
		case "DATA":
			reply("354 go ahead")
			for _, p := range pending {
				say(p)
			}
			pending = nil
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.body, s.finished = b.String(), true
			s.mu.Unlock()
			say("250 2.0.0 queued")
		case "RSET", "NOOP":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 unknown")
		}
	}
}

// A pipelined group to a server that answers only once it has the whole
// group: one recipient of three refused (550), one deferred (450), the
// third delivered; per-recipient results and DSN-relevant replies are
// exactly those of the lock-step path.
func TestPipelinedGroupPerRecipientResults(t *testing.T) {
	s := &scripted{pipelining: true, refuse: map[string]string{
		"bad@example.net":  "550 5.1.1 no such user",
		"busy@example.net": "450 4.2.1 mailbox busy",
	}}
	addr := s.start(t)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.3"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
	m := message("ok@example.net", "bad@example.net", "busy@example.net")
	got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if got["ok@example.net"].Outcome != queue.RelayedOK || got["bad@example.net"].Outcome != queue.FailedPerm ||
		got["busy@example.net"].Outcome != queue.Deferred {
		t.Fatalf("results: %+v", got)
	}
	if got["bad@example.net"].Reply != "550 5.1.1 no such user" || got["busy@example.net"].Reply != "450 4.2.1 mailbox busy" {
		t.Fatalf("replies %q, %q", got["bad@example.net"].Reply, got["busy@example.net"].Reply)
	}
	if got["ok@example.net"].Reply != "250 2.0.0 queued" {
		t.Fatalf("final reply %q", got["ok@example.net"].Reply)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished || len(s.rcpts) != 1 || s.body != string(body) {
		t.Fatalf("server got rcpts %v body %q", s.rcpts, s.body)
	}
}

// A server without PIPELINING gets lock-step commands: no command is
// sent before the reply to the one before it.
func TestLockStepWithoutPipelining(t *testing.T) {
	s := &scripted{refuse: map[string]string{"bad@example.net": "550 5.1.1 no such user"}}
	addr := s.start(t)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.3"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
	m := message("a@example.net", "bad@example.net", "b@example.net")
	got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if got["a@example.net"].Outcome != queue.RelayedOK || got["b@example.net"].Outcome != queue.RelayedOK ||
		got["bad@example.net"].Outcome != queue.FailedPerm {
		t.Fatalf("results: %+v", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.early) != 0 {
		t.Fatalf("commands sent ahead of their turn to a server without PIPELINING: %q", s.early)
	}
	if !s.finished || len(s.rcpts) != 2 {
		t.Fatalf("server got rcpts %v", s.rcpts)
	}
}
