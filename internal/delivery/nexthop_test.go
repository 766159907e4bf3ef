package delivery

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptHop is a next hop over real TCP on loopback whose answers a test
// steers: what its EHLO offers, how it answers AUTH (and each line the
// client sends inside the exchange), and what it does after a message's
// final dot. It records every line the client sends, as sent.
type scriptHop struct {
	addr string
	// tls, when set, is offered as STARTTLS before it is up.
	tls *tls.Config
	// ext are the EHLO keywords offered (over TLS when tls is set).
	ext []string
	// auth are the replies to AUTH and to each line after it until one
	// that is not 334; when it runs out, "535 5.7.8 credentials invalid".
	auth []string
	// afterDot: "" answers 250; "silent" reads on and never answers;
	// "close" closes the connection; any other text is written as it is
	// (an unreadable reply).
	afterDot string
	// slow delays the greeting and each reply to EHLO and STARTTLS by
	// that much (a slow next hop within command_timeout at each step).
	slow time.Duration

	mu   sync.Mutex
	cmds []string
	done chan struct{} // closed when the first connection ended
	once sync.Once
}

func (h *scriptHop) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cmds...)
}

// sent reports whether any line the client sent starts with prefix.
func (h *scriptHop) sent(prefix string) bool {
	for _, c := range h.commands() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func startScriptHop(t *testing.T, h *scriptHop) *scriptHop {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.done = make(chan struct{})
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer h.once.Do(func() { close(h.done) })
				h.serve(c)
			}()
		}
	}()
	return h
}

func (h *scriptHop) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(time.Minute)) // bounded: a test never waits longer
	time.Sleep(h.slow)
	c.Write([]byte("220 hop.example ESMTP\r\n"))
	r := bufio.NewReader(c)
	plain := h.tls != nil
	auth := append([]string(nil), h.auth...)
	inAuth := false
	for range 100 { // bounded
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		raw := strings.TrimRight(line, "\r\n")
		h.mu.Lock()
		h.cmds = append(h.cmds, raw)
		h.mu.Unlock()
		cmd := strings.ToUpper(raw)
		if inAuth || strings.HasPrefix(cmd, "AUTH") {
			reply := "535 5.7.8 credentials invalid"
			if len(auth) > 0 {
				reply, auth = auth[0], auth[1:]
			}
			if inAuth && raw == "*" {
				reply = "501 5.7.0 authentication cancelled"
			}
			inAuth = strings.HasPrefix(reply, "334")
			c.Write([]byte(reply + "\r\n"))
			continue
		}
		if strings.HasPrefix(cmd, "EHLO") || cmd == "STARTTLS" {
			time.Sleep(h.slow)
		}
		switch {
		case strings.HasPrefix(cmd, "EHLO") && plain:
			c.Write([]byte("250-hop.example\r\n250 STARTTLS\r\n"))
		case strings.HasPrefix(cmd, "EHLO"):
			out := "250-hop.example\r\n"
			for _, e := range h.ext {
				out += "250-" + e + "\r\n"
			}
			c.Write([]byte(out + "250 8BITMIME\r\n"))
		case cmd == "STARTTLS" && plain:
			c.Write([]byte("220 2.0.0 ready\r\n"))
			tc := tls.Server(c, h.tls)
			if tc.Handshake() != nil {
				return
			}
			c, r, plain = tc, bufio.NewReader(tc), false
		case cmd == "DATA":
			c.Write([]byte("354 go ahead\r\n"))
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			switch h.afterDot {
			case "":
				c.Write([]byte("250 2.0.0 taken\r\n"))
			case "silent":
				r.ReadString('\n') // until the client gives up
				return
			case "close":
				return
			default:
				c.Write([]byte(h.afterDot))
			}
		case cmd == "QUIT":
			c.Write([]byte("221 2.0.0 bye\r\n"))
			return
		default:
			c.Write([]byte("250 2.0.0 ok\r\n"))
		}
	}
}
