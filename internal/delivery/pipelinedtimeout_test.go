package delivery

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// command_timeout is "each outbound command's reply"
// (README, transport table), and delivfix28 gave each step of the opening
// its own instead of one for the opening as a whole. The pipelined
// envelope (RFC 2920: MAIL, every RCPT and DATA in one write) still
// shares one command_timeout for all its replies (pipeline.go sets one
// deadline before the group's write): a next hop that answers every RCPT
// well within command_timeout, only checking each recipient for a
// moment, is given up once the replies together pass it, and the
// message is deferred at every attempt until it expires. SMTP-1.
func TestSMTP1PipelinedEnvelopeEachReplyItsOwnCommandTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const perRcpt = 250 * time.Millisecond // each RCPT answered within a quarter of command_timeout
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute)) // bounded
		c.Write([]byte("220 hop.example ESMTP\r\n"))
		r := bufio.NewReader(c)
		for range 200 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				c.Write([]byte("250-hop.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"))
			case strings.HasPrefix(cmd, "RCPT"):
				time.Sleep(perRcpt)
				c.Write([]byte("250 2.1.5 ok\r\n"))
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
				c.Write([]byte("250 2.0.0 taken\r\n"))
			case cmd == "QUIT":
				c.Write([]byte("221 2.0.0 bye\r\n"))
				return
			default:
				c.Write([]byte("250 2.0.0 ok\r\n"))
			}
		}
	}()
	sc := config.SendConnector{Name: "smarthost", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{ln.Addr().String()}, TLS: config.TLSNone}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	d.st.Load().cfg.CommandTimeout = time.Second
	var rcpts []string
	for i := range 8 { // 8 × 250ms: 2s of replies, each a quarter of command_timeout
		rcpts = append(rcpts, fmt.Sprintf("r%d@slow.test", i))
	}
	m := message(rcpts...)
	res := d.Deliver(context.Background(), m, body, all(m))
	for _, r := range res {
		t.Logf("result rcpt %d: %v %q", r.Rcpt, r.Outcome, r.Reply)
	}
	for _, r := range res {
		if r.Outcome != queue.RelayedOK {
			t.Fatalf("recipient %d: %v %q: every RCPT was answered in %v, within command_timeout (1s), "+
				"yet the envelope's replies shared one command_timeout", r.Rcpt, r.Outcome, r.Reply, perRcpt)
		}
	}
	if len(res) != len(rcpts) {
		t.Fatalf("results: %+v", res)
	}
}
