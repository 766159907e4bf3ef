package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// closeWatchHop is a next hop on loopback that delivers every message
// and reports on closed each session that ended (its client closed the
// connection or quit).
func closeWatchHop(t *testing.T) (addr string, closed chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed = make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { closed <- struct{}{} }()
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Minute)) // a bound on a leak, not a timing
				r := bufio.NewReader(c)
				say := func(l string) { c.Write([]byte(l + "\r\n")) }
				say("220 mx.example.net ESMTP")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.ToUpper(strings.SplitN(strings.TrimSpace(line), " ", 2)[0]) {
					case "EHLO":
						say("250-mx.example.net")
						say("250 8BITMIME")
					case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
						say("250 ok")
					case "DATA":
						say("354 go ahead")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						say("250 2.0.0 queued")
					case "QUIT":
						say("221 bye")
						return
					default:
						say("502 unknown")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), closed
}

// a panic in a group's attempt outside its transaction closes the
// session the attempt holds, as one inside it does: here in the content
// check (contentRefusal) of the session opened for the message. The
// session was neither pooled nor closed and stayed open at the next hop
// until its timeout.
func TestPanicOutsideTheTransactionClosesTheSession(t *testing.T) {
	addr, closed := closeWatchHop(t)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.1"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
	pc := &panicCount{}
	d.SetPanics(pc)
	contentSeam = func(string) { panic("test seam: the content check") }
	defer func() { contentSeam = nil }()
	m := message("x@example.net")
	if r := d.Deliver(context.Background(), m, body, all(m)); r[0].Outcome != queue.Deferred || r[0].Reply != queue.PanicReply {
		t.Fatalf("results: %+v, want deferred with %q", r, queue.PanicReply)
	}
	if pc.count("delivery") != 1 {
		t.Fatalf("panics counted: %v; want delivery 1", pc.n)
	}
	select {
	case <-closed:
	case <-time.After(time.Minute): // a bound on a leak, not a timing
		t.Fatal("the session the panicked attempt held stays open at the next hop: neither pooled nor closed")
	}
}
