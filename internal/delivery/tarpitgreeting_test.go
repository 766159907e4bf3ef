package delivery

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// SPEC W-7 (every step has a timeout): a next hop that sends its
// greeting a byte at a time (a tarpit) and had sent only "220 " when the
// command timeout ran out is deferred as a greeting that timed out —
// "451 4.4.2 greeting from HOST: … timeout" — with no EHLO sent. Seen to
// fail first: umbra took "220 " for the greeting, sent EHLO, waited a
// second command timeout and deferred with "reply to EHLO from HOST:
// short response", a false reason at twice the timeout (rt30d F2).
func TestTarpitGreetingIsAGreetingTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
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
				defer c.Close()
				c.Write([]byte("220 "))
				b := make([]byte, 512)
				for {
					n, err := c.Read(b)
					if n > 0 {
						mu.Lock()
						got = append(got, string(b[:n]))
						mu.Unlock()
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	d := newDeliverer(t, manyMX("tarpit.example", 1, 1), config.Mailbox{}, mxConnector(portOf(ln.Addr().String())))
	m := message("b@tarpit.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 {
		t.Fatalf("results %+v", res)
	}
	r := res[0]
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.2 greeting from m0.tarpit.example[127.0.0.1]:") ||
		!strings.Contains(r.Reply, "timeout") {
		t.Fatalf("outcome %v reply %q; want deferred as a greeting timeout", r.Outcome, r.Reply)
	}
	mu.Lock()
	defer mu.Unlock()
	if sent := strings.Join(got, ""); sent != "" && !strings.HasPrefix(sent, "QUIT") {
		t.Fatalf("sent to a next hop whose greeting never finished: %q", sent)
	}
}
