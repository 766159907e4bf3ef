package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SMTP-1: a pooled connection whose every recipient was
// refused is ended with go-smtp's Reset, which makes go-smtp say EHLO
// again before the next MAIL. When that EHLO breaks (the next hop closes
// without a reply), go-smtp keeps the break as its hello error and
// Client.Mail returns it without writing a byte: the write counter takes
// it for a command go-smtp refused to format (NotSentError), and classify
// fails every recipient of the next message permanently (554 5.5.4) for a
// transient break, instead of delivering it on a fresh connection.
func TestSMTP1BrokenReEhloOnPooledConnIsNoPermanentFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.181:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for conn := 0; ; conn++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn int, nc net.Conn) {
				defer nc.Close()
				br := bufio.NewReader(nc)
				nc.Write([]byte("220 sink\r\n"))
				ehlos := 0
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					verb := strings.ToUpper(strings.Fields(line + " x")[0])
					switch {
					case strings.HasPrefix(verb, "EHLO"):
						ehlos++
						if conn == 0 && ehlos == 2 {
							return // the break: closed without a reply
						}
						nc.Write([]byte("250-sink\r\n250 8BITMIME\r\n"))
					case verb == "MAIL":
						nc.Write([]byte("250 ok\r\n"))
					case verb == "RCPT":
						if strings.Contains(line, "refused@") {
							nc.Write([]byte("550 5.1.1 no such user\r\n"))
						} else {
							nc.Write([]byte("250 ok\r\n"))
						}
					case verb == "DATA":
						nc.Write([]byte("354 go\r\n"))
						for {
							l, err := br.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						nc.Write([]byte("250 queued\r\n"))
					case verb == "QUIT":
						nc.Write([]byte("221 bye\r\n"))
						return
					default:
						nc.Write([]byte("250 ok\r\n"))
					}
				}
			}(conn, nc)
		}
	}()
	dns := &fakeDNS{mx: map[string][]*net.MX{"outside.example": {{Host: "mx.outside.example.", Pref: 10}}},
		hosts: map[string][]string{"mx.outside.example": {"127.0.0.181"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(ln.Addr().String())))
	m1 := message("refused@outside.example")
	for _, r := range d.Deliver(context.Background(), m1, body, all(m1)) {
		if r.Outcome != queue.FailedPerm {
			t.Fatalf("first message: %v %q", r.Outcome, r.Reply)
		}
	}
	m2 := message("a@outside.example", "b@outside.example")
	for _, r := range d.Deliver(context.Background(), m2, body, all(m2)) {
		if r.Outcome == queue.FailedPerm {
			t.Errorf("recipient %d failed permanently for a broken connection: %q", r.Rcpt, r.Reply)
		}
	}
}
