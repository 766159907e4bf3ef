package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// smtpOnly is an SMTP server that does not speak LMTP: LHLO is an
// unknown command to it (500), HELO and the transaction are answered as
// SMTP (one reply after DATA), and every command is recorded.
type smtpOnly struct {
	addr string
	mu   sync.Mutex
	cmds []string
}

func startSMTPOnly(t *testing.T, lhloReply string) *smtpOnly {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpOnly{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				c.Write([]byte("220 smtp.test ESMTP\r\n"))
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					s.mu.Lock()
					s.cmds = append(s.cmds, strings.TrimRight(l, "\r\n"))
					s.mu.Unlock()
					switch u := strings.ToUpper(l); {
					case strings.HasPrefix(u, "LHLO"):
						c.Write([]byte(lhloReply + "\r\n"))
					case strings.HasPrefix(u, "DATA"):
						c.Write([]byte("354 go\r\n"))
						for {
							d, err := r.ReadString('\n')
							if err != nil || d == ".\r\n" {
								break
							}
						}
						c.Write([]byte("250 2.0.0 Ok: queued\r\n"))
					case strings.HasPrefix(u, "QUIT"):
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return s
}

func (s *smtpOnly) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// A mailbox server address that names an SMTP server (port 25 for 24)
// is a precise deferral naming LMTP: umbra never falls back to HELO and
// runs no SMTP transaction whose one reply after DATA would be taken for
// per-recipient replies. A server that refuses LHLO for a while (4xx)
// is a deferral too.
func TestLMTPToASMTPServerDefers(t *testing.T) {
	for _, tc := range []struct{ reply, want string }{
		{"500 5.5.2 Error: command not recognized", "does not speak LMTP"},
		{"502 5.5.1 Command not implemented", "does not speak LMTP"},
		{"421 4.3.2 busy, come back later", "421 4.3.2"},
	} {
		t.Run(tc.reply[:3], func(t *testing.T) {
			s := startSMTPOnly(t, tc.reply)
			d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
			m := message("a@example.test", "b@example.test")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 2 {
				t.Fatalf("results %+v", res)
			}
			for _, r := range res {
				if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.") || !strings.Contains(r.Reply, tc.want) {
					t.Errorf("result %+v, want a deferral naming %q", r, tc.want)
				}
			}
			for _, c := range s.commands() {
				if u := strings.ToUpper(c); !strings.HasPrefix(u, "LHLO") && !strings.HasPrefix(u, "QUIT") {
					t.Errorf("the server that refused LHLO was sent %q", c)
				}
			}
		})
	}
}
