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

// lowerCaseHop is a next hop whose EHLO keywords are in lower case, one
// with a trailing space; it records the MAIL commands it is sent and
// takes every message.
type lowerCaseHop struct {
	addr  string
	mu    sync.Mutex
	mails []string
	datas int
}

func startLowerCaseHop(t *testing.T) *lowerCaseHop {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := &lowerCaseHop{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return h
}

func (h *lowerCaseHop) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	c.Write([]byte("220 fake ESMTP\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			c.Write([]byte("250-fake\r\n250-8bitmime\r\n250-pipelining\r\n250-size 1000 \r\n250 smtputf8\r\n"))
		case strings.HasPrefix(cmd, "MAIL"):
			h.mu.Lock()
			h.mails = append(h.mails, strings.TrimSpace(line))
			h.mu.Unlock()
			c.Write([]byte("250 2.1.0 ok\r\n"))
		case strings.HasPrefix(cmd, "RCPT"), cmd == "RSET", cmd == "NOOP":
			c.Write([]byte("250 2.1.5 ok\r\n"))
		case cmd == "DATA":
			c.Write([]byte("354 go on\r\n"))
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			h.mu.Lock()
			h.datas++
			h.mu.Unlock()
			c.Write([]byte("250 2.0.0 queued\r\n"))
		case cmd == "QUIT":
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("502 5.5.1 no\r\n"))
		}
	}
}

// A next hop's extension keywords are read without letter case and
// trailing whitespace (RFC 5321 §2.4; SMTP-1, rt16d F2): 8-bit mail goes
// to a hop that says "8bitmime" with BODY=8BITMIME and SIZE=, and a
// message larger than its "size 1000 " is failed with its limit, never
// sent.
func TestNextHopLowerCaseKeywords(t *testing.T) {
	h := startLowerCaseHop(t)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(h.addr)))
	eight := []byte("Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n")
	m := message("u@example.net")
	m.Size, m.EightBit = int64(len(eight)), true
	for _, r := range d.Deliver(context.Background(), m, eight, all(m)) {
		if r.Outcome != queue.RelayedOK {
			t.Fatalf("8-bit message: %+v", r)
		}
	}
	h.mu.Lock()
	mails := append([]string(nil), h.mails...)
	h.mu.Unlock()
	if len(mails) != 1 || !strings.Contains(mails[0], "BODY=8BITMIME") || !strings.Contains(mails[0], "SIZE=") {
		t.Errorf("MAIL commands %q: want BODY=8BITMIME and SIZE=", mails)
	}

	big := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 3000) + "\r\n")
	m = message("v@example.net")
	m.Size = int64(len(big))
	for _, r := range d.Deliver(context.Background(), m, big, all(m)) {
		if r.Outcome != queue.FailedPerm || !strings.Contains(r.Reply, "552 5.3.4") || !strings.Contains(r.Reply, "1000") {
			t.Errorf("message over the hop's SIZE: %+v", r)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.datas != 1 {
		t.Errorf("%d messages sent, want the small one only", h.datas)
	}
}
