package main

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// heldLMTP is an LMTP server that answers the first recipient of its
// first transaction with 250 at once and never answers the second, so
// that the delivering hub holds a mailbox's 250 it has not committed yet;
// every later transaction is answered at once. It records each 250 it
// gave, with the message's X-Umbra-Org-Id.
type heldLMTP struct {
	mu        sync.Mutex
	delivered map[string][]string // recipient → org ids of the copies answered 250
	held      chan struct{}       // closed once the first 250 is out and the second reply held
	first     bool
}

var orgIDLine = regexp.MustCompile(`(?mi)^X-Umbra-Org-Id:\s*(\S+)`)

func startHeldLMTP(t *testing.T, addr string) *heldLMTP {
	s := &heldLMTP{delivered: map[string][]string{}, held: make(chan struct{}), first: true}
	testsupport.Serve(t, addr, func(c net.Conn) { go s.serve(c) })
	return s
}

func (s *heldLMTP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "220 lmtp.test LMTP\r\n")
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "LHLO"):
			fmt.Fprintf(c, "250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			rcpts = nil
			fmt.Fprintf(c, "250 2.1.0 ok\r\n")
		case strings.HasPrefix(cmd, "RCPT"):
			a := strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
			rcpts = append(rcpts, strings.ToLower(strings.Trim(a, "<> \r\n")))
			fmt.Fprintf(c, "250 2.1.5 ok\r\n")
		case cmd == "DATA":
			fmt.Fprintf(c, "354 go ahead\r\n")
			body, err := testsupport.ReadData(r)
			if err != nil {
				return
			}
			org := ""
			if m := orgIDLine.FindStringSubmatch(body); m != nil {
				org = m[1]
			}
			s.mu.Lock()
			hold := s.first && len(rcpts) > 1
			s.first = false
			s.mu.Unlock()
			for i, rc := range rcpts {
				if hold && i > 0 {
					close(s.held)
					io := make([]byte, 1)
					r.Read(io) // the hub is killed: the connection closes
					return
				}
				s.mu.Lock()
				s.delivered[rc] = append(s.delivered[rc], org)
				s.mu.Unlock()
				fmt.Fprintf(c, "250 2.0.0 <%s> delivered\r\n", rc)
			}
		case cmd == "RSET", cmd == "NOOP":
			fmt.Fprintf(c, "250 2.0.0 ok\r\n")
		case cmd == "QUIT":
			fmt.Fprintf(c, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "500 5.5.2 unknown\r\n")
		}
	}
}

func (s *heldLMTP) copies(rcpt string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.delivered[rcpt]...)
}

// rt5 F5: the duplicate window of an LMTP mailbox exists with a single
// delivering hub. The hub's duplicate record is committed with the
// delivery's result, after the mailbox's 250; a kill -9 in between
// leaves no record, and after the restart the recipient is delivered
// again — with the same X-Umbra-Org-Id, which is what the Dovecot Sieve
// rule (deploy/dovecot, TestDovecotSieveDropsSecondCopyFromAnotherHub)
// drops. So the rule is needed at every LMTP mailbox for exactly once
// across a kill -9, not only at one shared by two hubs (README, window
// 2). The message itself is not lost: the recipient whose reply was
// still outstanding is delivered after the restart.
func TestLMTPKill9BetweenMailbox250AndCommitDeliversAgain(t *testing.T) {
	dir := t.TempDir()
	listen, lmtpAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	mbx := startHeldLMTP(t, lmtpAddr)
	cfg := lmtpHub(t, dir, listen, fmt.Sprintf("lmtp: %q, database: MDB1", lmtpAddr), "max_acknowledgement_delay: 0s")
	d := startUmbra(t, cfg, listen)
	msg := "Message-ID: <once@example.org>\r\nSubject: once\r\n\r\nhello\r\n"
	if r := rawSend(t, listen, "s@example.org", []string{"alice@example.test", "bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	select {
	case <-mbx.held:
	case <-time.After(30 * time.Second):
		d.dumpLog()
		t.Fatal("no LMTP delivery")
	}
	d.kill() // alice's 250 is at the hub, not committed
	d = startUmbra(t, cfg, listen)
	waitCond(t, "bob delivered after the restart", 30*time.Second, func() bool { return len(mbx.copies("bob@example.test")) == 1 })
	waitCond(t, "alice delivered again", 30*time.Second, func() bool { return len(mbx.copies("alice@example.test")) >= 2 })
	time.Sleep(2 * time.Second) // a third copy would land now
	alice, bob := mbx.copies("alice@example.test"), mbx.copies("bob@example.test")
	if len(alice) != 2 || len(bob) != 1 || alice[0] == "" || alice[0] != alice[1] || bob[0] != alice[0] {
		d.dumpLog()
		t.Fatalf("alice's copies %q, bob's %q: want two of alice's with one org id (the one bob's carries), one of bob's", alice, bob)
	}
}
