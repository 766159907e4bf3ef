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

// strictServer is an SMTP server on 127.0.0.2 that keeps a transaction
// as RFC 5321 §4.1.1 and a Postfix smtpd keep it: a MAIL inside one is
// refused "503 nested MAIL command"; a DATA it refuses (for a recipient
// named reject… with 554, tempreject… with 451) leaves the transaction
// open; a MAIL from badsender@… is refused and opens none; RSET and the
// reply to the end of the data close it. It counts connections,
// messages taken and nested MAIL commands.
type strictServer struct {
	ln                      net.Listener
	conns, messages, nested atomic.Int32
}

func startStrictServer(t *testing.T, pipelining bool) *strictServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &strictServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go s.serve(c, pipelining)
		}
	}()
	return s
}

func (s *strictServer) serve(c net.Conn, pipelining bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 strict.test\r\n")
	inTxn, rcpts, refuseData := false, 0, ""
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(l))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			inTxn, rcpts, refuseData = false, 0, ""
			if pipelining {
				io.WriteString(c, "250-strict.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
			} else {
				io.WriteString(c, "250-strict.test\r\n250 8BITMIME\r\n")
			}
		case strings.HasPrefix(cmd, "MAIL"):
			switch {
			case inTxn:
				s.nested.Add(1)
				io.WriteString(c, "503 5.5.1 Error: nested MAIL command\r\n")
			case strings.Contains(cmd, "BADSENDER@"):
				io.WriteString(c, "553 5.7.1 sender refused\r\n")
			default:
				inTxn = true
				io.WriteString(c, "250 2.1.0 ok\r\n")
			}
		case strings.HasPrefix(cmd, "RCPT"):
			if !inTxn {
				io.WriteString(c, "503 5.5.1 Error: need MAIL command\r\n")
				continue
			}
			rcpts++
			switch {
			case strings.Contains(cmd, "TEMPREJECT@"):
				refuseData = "451 4.3.0 Data command deferred\r\n"
			case strings.Contains(cmd, "REJECT@"):
				refuseData = "554 5.7.1 Data command rejected\r\n"
			}
			io.WriteString(c, "250 2.1.5 ok\r\n")
		case cmd == "DATA":
			switch {
			case !inTxn || rcpts == 0:
				io.WriteString(c, "503 5.5.1 Error: need RCPT command\r\n")
			case refuseData != "":
				io.WriteString(c, refuseData) // the transaction stays open
			default:
				io.WriteString(c, "354 go on\r\n")
				for l != ".\r\n" {
					if l, err = r.ReadString('\n'); err != nil {
						return
					}
				}
				s.messages.Add(1)
				inTxn, rcpts = false, 0
				io.WriteString(c, "250 2.0.0 ok\r\n")
			}
		case cmd == "RSET":
			inTxn, rcpts, refuseData = false, 0, ""
			io.WriteString(c, "250 2.0.0 ok\r\n")
		case cmd == "QUIT":
			io.WriteString(c, "221 2.0.0 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

// SMTP-1, SR-3: a transaction the next hop refused at DATA stays open
// at the next hop (RFC 5321 leaves it so; Postfix keeps it): a
// connection reused without RSET had every later message on it refused
// "503 nested MAIL command" — failed for good, its sender told of a
// refusal no recipient gave, and a bounce over it lost (rt43-delivery
// F1, no PIPELINING; 4xx and 5xx). No transaction is left open on a
// connection kept for the next message, whatever ended it: a refused
// DATA, a refused MAIL, every recipient refused.
func TestNoTransactionLeftOpenOnReusedConnection(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		for _, first := range []struct {
			name, from, rcpt string
			want             queue.Outcome
		}{
			{"DATA refused 554", "sender@example.org", "reject@example.net", queue.FailedPerm},
			{"DATA refused 451", "sender@example.org", "tempreject@example.net", queue.Deferred},
			{"MAIL refused", "badsender@example.org", "r@example.net", queue.FailedPerm},
		} {
			name := first.name
			if pipelining {
				name += ", pipelining"
			}
			t.Run(name, func(t *testing.T) {
				s := startStrictServer(t, pipelining)
				dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 1}}},
					hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
				conn := mxConnector(portOf(s.ln.Addr().String()))
				conn.TLS = config.TLSNone
				d := newDeliverer(t, dns, config.Mailbox{}, conn)
				defer d.Close()
				m := message(first.rcpt)
				m.From = first.from
				if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != first.want {
					t.Fatalf("first message: %+v, want outcome %v", res, first.want)
				}
				for i := range 3 {
					m := message("good@example.net")
					if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
						t.Fatalf("message %d after the refusal: %+v", i, res)
					}
				}
				if n := s.nested.Load(); n != 0 {
					t.Errorf("%d MAIL commands inside a transaction left open", n)
				}
				if n := s.messages.Load(); n != 3 {
					t.Errorf("server took %d messages, want 3", n)
				}
				if n := s.conns.Load(); n != 1 {
					t.Errorf("%d connections, want the one reused", n)
				}
			})
		}
	}
}
