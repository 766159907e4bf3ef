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

// umbra's own words about an LMTP session out of step —
// the server answers DATA with 250 instead of 354 — are written by the
// smtp client ("451 4.4.2 unexpected reply to DATA: 250 …"; the LMTP
// client has no hop set, so they do not begin "451 4.4.2 lmtp: "), and
// lmtpOwn does not know them: the DSN labels umbra's diagnostic as the
// mailbox server's own reply (Diagnostic-Code: smtp), where README says
// umbra's own words about the LMTP session get no Diagnostic-Code.
func TestQ3LMTPOutOfStepDataIsUmbrasWords(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				c.Write([]byte("220 lmtp.test ready\r\n"))
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
					case strings.HasPrefix(cmd, "LHLO"):
						c.Write([]byte("250-lmtp.test\r\n250 PIPELINING\r\n"))
					case cmd == "DATA":
						c.Write([]byte("250 2.0.0 ok\r\n")) // out of step: no 354
					case cmd == "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("250 2.1.0 ok\r\n"))
					}
				}
			}()
		}
	}()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: ln.Addr().String()})
	m := message("b@example.test")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 {
		t.Fatalf("results %+v", res)
	}
	r := res[0]
	t.Logf("result: %v %q hop %q", r.Outcome, r.Reply, r.NextHop)
	m.From = "a@example.test"
	m.Arrived = time.Unix(1e9, 0)
	rc := &m.Rcpts[0]
	rc.Queue, rc.NextHop, rc.LastReply, rc.Status = "mailbox:DB01", r.NextHop, r.Reply, queue.Pending
	dsn := string(queue.BuildDSN("mx.test", m, body, queue.NotifyDelay, []int{0}, time.Unix(1e9+60, 0), time.Unix(1e9+3600, 0), 8, 0))
	if strings.Contains(dsn, "Diagnostic-Code:") {
		i := strings.Index(dsn, "Final-Recipient")
		t.Errorf("umbra's own words about an out-of-step LMTP session are quoted as the server's reply:\n%s", dsn[i:min(len(dsn), i+300)])
	}
}
