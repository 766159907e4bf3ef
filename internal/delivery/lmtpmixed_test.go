package delivery

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// mixedLMTP is an LMTP server on addr answering RCPT by the address:
// "tmp" 452 4.2.2 (mailbox full), "bad" 550 5.1.1, others 250; DATA 354
// whatever the recipients (as rt39's fake did, where RFC 2033 wants 503
// without one); after the dot one reply per accepted recipient — 552 for
// "late", 250 for the others — so none when none was accepted. It counts
// the MAIL commands.
func mixedLMTP(t *testing.T, addr string) *atomic.Int32 {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mails atomic.Int32
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Minute)) // past deliverBounded's bound: the server does not end a hang
				r := bufio.NewReader(c)
				c.Write([]byte("220 lmtp.test ready\r\n"))
				var rcpts []string
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
					case strings.HasPrefix(cmd, "LHLO"):
						c.Write([]byte("250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"))
					case strings.HasPrefix(cmd, "MAIL"):
						mails.Add(1)
						rcpts = nil
						c.Write([]byte("250 2.1.0 ok\r\n"))
					case strings.HasPrefix(cmd, "RCPT") && strings.Contains(cmd, "<TMP"):
						c.Write([]byte("452 4.2.2 mailbox full\r\n"))
					case strings.HasPrefix(cmd, "RCPT") && strings.Contains(cmd, "<BAD"):
						c.Write([]byte("550 5.1.1 no such mailbox\r\n"))
					case strings.HasPrefix(cmd, "RCPT"):
						rcpts = append(rcpts, cmd)
						c.Write([]byte("250 2.1.5 ok\r\n"))
					case cmd == "DATA":
						c.Write([]byte("354 go\r\n"))
						for {
							b, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if b == ".\r\n" {
								break
							}
						}
						for _, rc := range rcpts {
							if strings.Contains(rc, "<LATE") {
								c.Write([]byte("552 5.2.2 over quota\r\n"))
							} else {
								c.Write([]byte("250 2.0.0 stored\r\n"))
							}
						}
					case cmd == "RSET":
						c.Write([]byte("250 2.0.0 ok\r\n"))
					case cmd == "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("500 5.5.1 what\r\n"))
					}
				}
			}()
		}
	}()
	return &mails
}

// deliverBounded runs d.Deliver on its own goroutine and fails the test
// when it has not returned within the bound (a hang, not a slow run).
func deliverBounded(t *testing.T, d interface {
	Deliver(context.Context, *queue.Message, []byte, []int) []queue.Result
}, m *queue.Message) []queue.Result {
	t.Helper()
	done := make(chan []queue.Result, 1)
	go func() { done <- d.Deliver(context.Background(), m, body, all(m)) }()
	select {
	case res := <-done:
		return res
	case <-time.After(60 * time.Second):
		t.Fatal("the LMTP delivery did not return")
		return nil
	}
}

// Q-3 (rt39 F3): a 452 with an enhanced code of its own (4.2.2 mailbox
// full) is that recipient's deferral, not RFC 5321's "too many
// recipients" (4.5.3, or a bare 452): umbra does not send the recipient
// again at once in a transaction of its own — against rt39's LMTP server
// that second transaction, every recipient refused, hung the job after
// the other recipients' replies had come, and a delay DSN said of them
// all "no host has replied yet".
func TestQ3MailboxFull452IsNotTooManyRecipients(t *testing.T) {
	mails := mixedLMTP(t, "127.0.0.161:9110")
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: "127.0.0.161:9110"})
	m := message("ok1@example.test", "bad1@example.test", "tmp1@example.test", "late1@example.test", "ok2@example.test")
	res := deliverBounded(t, d, m)
	want := map[string]string{"ok1@example.test": "250", "bad1@example.test": "550", "tmp1@example.test": "452 4.2.2",
		"late1@example.test": "552", "ok2@example.test": "250"}
	for _, r := range res {
		addr := m.Rcpts[r.Rcpt].Addr
		if !strings.HasPrefix(r.Reply, want[addr]) {
			t.Errorf("%s: %v %q, want the reply %s", addr, r.Outcome, r.Reply, want[addr])
		}
	}
	if len(res) != 5 {
		t.Errorf("%d results for 5 recipients: %+v", len(res), res)
	}
	if n := mails.Load(); n != 1 {
		t.Errorf("%d transactions; a mailbox-full 452 is no reason for another", n)
	}
}

// Q-3 (rt39 F3): an LMTP server that opens DATA although it accepted no
// recipient (RFC 2033 wants 503) answers the dot with no reply — one per
// accepted recipient, none. umbra does not wait command_timeout for a
// reply that does not come (the job hung, its recipients' replies known
// but not reported): the recipients keep their own refusals, the session
// ends.
func TestQ3LMTPDataWithoutRecipientAwaitsNoReply(t *testing.T) {
	mixedLMTP(t, "127.0.0.161:9111")
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: "127.0.0.161:9111"})
	cfg := d.st.Load().cfg
	cfg.CommandTimeout = time.Hour // a wait for the dot's reply would outlast the test's bound
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	m := message("bad1@example.test", "bad2@example.test")
	res := deliverBounded(t, d, m)
	if len(res) != 2 {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if r.Outcome != queue.FailedPerm || !strings.HasPrefix(r.Reply, "550 5.1.1") {
			t.Errorf("%s: %v %q, want its own 550 (no wait for a reply to the dot)", m.Rcpts[r.Rcpt].Addr, r.Outcome, r.Reply)
		}
	}
}
