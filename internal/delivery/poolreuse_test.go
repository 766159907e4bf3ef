package delivery

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// closingServer is an SMTP server on 127.0.0.2 that ends every session
// after one message, in the way end says; it counts connections and
// messages taken.
type closingServer struct {
	ln              net.Listener
	conns, messages atomic.Int32
}

// The ways a server ends a session after its one message.
const (
	// "250 ok" and "421 closing" in one write after the body, then the
	// connection stays open until the client speaks (the 421 is read
	// ahead with the 250, the close not yet seen).
	endReadAhead = iota
	// the next MAIL gets "421 closing", then the close.
	endAtNextMail
	// the next MAIL gets no reply: the connection is closed.
	endSilentAtNextMail
)

func startClosingServer(t *testing.T, end int, pipelining bool) *closingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &closingServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go s.serve(c, end, pipelining)
		}
	}()
	return s
}

func (s *closingServer) serve(c net.Conn, end int, pipelining bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 once.test\r\n")
	done := false
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
		case strings.HasPrefix(cmd, "EHLO"):
			if pipelining {
				io.WriteString(c, "250-once.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
			} else {
				io.WriteString(c, "250-once.test\r\n250 8BITMIME\r\n")
			}
		case done && end == endReadAhead:
			return // the client spoke after the 421: it ignored it
		case done && strings.HasPrefix(cmd, "MAIL") && end == endAtNextMail:
			io.WriteString(c, "421 4.4.2 once.test closing\r\n")
			return
		case done && strings.HasPrefix(cmd, "MAIL") && end == endSilentAtNextMail:
			return
		case cmd == "DATA":
			io.WriteString(c, "354 go on\r\n")
			for l != ".\r\n" {
				if l, err = r.ReadString('\n'); err != nil {
					return
				}
			}
			s.messages.Add(1)
			done = true
			if end == endReadAhead {
				io.WriteString(c, "250 2.0.0 ok\r\n421 4.4.2 once.test closing\r\n")
			} else {
				io.WriteString(c, "250 2.0.0 ok\r\n")
			}
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

// TestPooledConnectionEndedByServer: a pooled connection the server has
// ended — a 421 read ahead behind the last reply, a 421 to the next
// MAIL, or a close seen only when the next MAIL is sent — is never the
// end of a message: each message is delivered once, on a fresh
// connection when the pooled one is gone, whenever the close is seen.
// The server decides when to end by what the client sends, not by time,
// so the outcome does not depend on scheduling.
func TestPooledConnectionEndedByServer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		end        int
		pipelining bool
	}{
		{"421 read ahead", endReadAhead, false},
		{"421 read ahead, pipelining", endReadAhead, true},
		{"421 at next MAIL", endAtNextMail, false},
		{"421 at next MAIL, pipelining", endAtNextMail, true},
		{"close at next MAIL", endSilentAtNextMail, false},
		{"close at next MAIL, pipelining", endSilentAtNextMail, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startClosingServer(t, tc.end, tc.pipelining)
			dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 1}}},
				hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
			conn := mxConnector(portOf(s.ln.Addr().String()))
			conn.TLS = config.TLSNone
			d := newDeliverer(t, dns, config.Mailbox{}, conn)
			defer d.Close()
			for i := range 4 {
				m := message("r@example.net")
				if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
					t.Fatalf("message %d: %+v", i, res)
				}
			}
			if n := s.messages.Load(); n != 4 {
				t.Errorf("server took %d messages for 4 sent", n)
			}
			if n := s.conns.Load(); n != 4 {
				t.Errorf("%d connections for 4 messages to a server that ends each session after one, want 4", n)
			}
		})
	}
}
