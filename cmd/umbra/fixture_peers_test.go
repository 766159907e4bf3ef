package main

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/testsupport"
)

// Next hops a test's daemon sends to: listeners on loopback that answer
// the way a test needs.

// plainHost is a next hop that offers neither 8BITMIME nor SMTPUTF8 (its
// EHLO reply names SIZE alone) and takes every message; it records each
// MAIL command and what each DATA carried.
type plainHost struct {
	mu     sync.Mutex
	mails  []string
	bodies []string
}

// startPlainHost runs a plainHost at addr, greeting as name.
func startPlainHost(t testing.TB, addr, name string) *plainHost {
	t.Helper()
	h := &plainHost{}
	testsupport.Serve(t, addr, func(c net.Conn) { go h.serve(c, name) })
	return h
}

func (h *plainHost) serve(c net.Conn, name string) {
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("220 " + name + " ESMTP\r\n"))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch u := strings.ToUpper(l); {
		case strings.HasPrefix(u, "EHLO"):
			c.Write([]byte("250-" + name + "\r\n250 SIZE 10000000\r\n"))
		case strings.HasPrefix(u, "MAIL"):
			h.mu.Lock()
			h.mails = append(h.mails, strings.TrimRight(l, "\r\n"))
			h.mu.Unlock()
			c.Write([]byte("250 ok\r\n"))
		case strings.HasPrefix(u, "DATA"):
			c.Write([]byte("354 go\r\n"))
			var b strings.Builder
			for {
				d, err := r.ReadString('\n')
				if err != nil || d == ".\r\n" {
					break
				}
				b.WriteString(d)
			}
			h.mu.Lock()
			h.bodies = append(h.bodies, b.String())
			h.mu.Unlock()
			c.Write([]byte("250 ok\r\n"))
		case strings.HasPrefix(u, "QUIT"):
			c.Write([]byte("221 bye\r\n"))
			return
		default:
			c.Write([]byte("250 ok\r\n"))
		}
	}
}

// got returns the MAIL commands and the messages received so far.
func (h *plainHost) got() (mails, bodies []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.mails...), append([]string(nil), h.bodies...)
}

// startTLSSink runs a tlsSink (an MX host that records whether each
// message came over TLS) at addr, greeting as domain; setup, if not
// nil, configures the server further (a certificate, REQUIRETLS).
func startTLSSink(t testing.TB, addr, domain string, setup func(*gosmtp.Server)) *tlsSink {
	t.Helper()
	sink := &tlsSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &tlsSinkSession{s: sink, c: c}, nil
	}))
	srv.Domain, srv.ErrorLog = domain, nopLog{}
	if setup != nil {
		setup(srv)
	}
	ln := testsupport.Listen(t, addr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sink
}
