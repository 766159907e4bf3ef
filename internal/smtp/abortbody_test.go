package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// bodyCounter is a next hop on loopback that answers every command and
// counts the message bodies it received whole (the final dot read).
type bodyCounter struct {
	mu     sync.Mutex
	bodies int
}

func (b *bodyCounter) received() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bodies
}

func (b *bodyCounter) serve(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				fmt.Fprintf(c, "220 next.test ESMTP\r\n")
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						fmt.Fprintf(c, "250-next.test\r\n250 PIPELINING\r\n")
					case cmd == "DATA":
						fmt.Fprintf(c, "354 go ahead\r\n")
						for {
							l, err := br.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						b.mu.Lock()
						b.bodies++
						b.mu.Unlock()
						fmt.Fprintf(c, "250 2.0.0 queued\r\n")
					case cmd == "QUIT":
						fmt.Fprintf(c, "221 2.0.0 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "250 2.0.0 ok\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// SMTP-, Q-3 (rr25 sched24b, the check-then-close race): a caller on
// another goroutine (a stop, the message's expiry) that closes a session
// because no body began does it in one step with the client's beginning
// of a body (AbortUnlessBodyBegun). Decided after the 354 and before the
// first byte of the body, the abort wins: no body begins, none reaches
// the next hop, and the transaction's error says the session was closed
// before it (not a write that happened to fail). Decided after a body
// began, it does nothing: that body's end is the next hop's to say, and
// the session goes on.
func TestAbortUnlessBodyBegunIsOneStepWithTheBody(t *testing.T) {
	nb := &bodyCounter{}
	addr := nb.serve(t)
	dial := func() *Client {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone, CommandTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	parts := [][]byte{[]byte("Subject: t\r\n\r\nhello\r\n")}

	// A body begun and finished: an abort decided on the count before it
	// closes nothing.
	c := dial()
	before := c.BodiesBegun()
	if p := c.Pipeline("a@example.org", nil, []Recipient{{Addr: "b@example.net"}}, parts, false); p.Err != nil || p.Data != nil {
		t.Fatalf("first message: %+v", p)
	}
	if c.AbortUnlessBodyBegun(before) {
		t.Fatal("aborted a session whose body had begun")
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("the session was closed: %v", err)
	}

	// The abort decided between the 354 and the body (here from the
	// check made just then, as from another goroutine): no byte of the
	// body goes.
	c = dial()
	aborted := false
	c.SetBeforeBody(func() error {
		done := make(chan bool)
		go func() { done <- c.AbortUnlessBodyBegun(c.BodiesBegun()) }()
		aborted = <-done
		return nil // the check itself lets the body go
	})
	p := c.Pipeline("a@example.org", nil, []Recipient{{Addr: "b@example.net"}}, parts, false)
	if !aborted {
		t.Fatal("no abort before the body began")
	}
	if !errors.Is(p.Err, errAborted) {
		t.Errorf("transaction error %v, want the abort's", p.Err)
	}
	if n := c.BodiesBegun(); n != 0 {
		t.Errorf("%d bodies begun after the abort", n)
	}
	c2 := dial() // a later session: every body the next hop received is counted by then
	c2.Noop()
	if n := nb.received(); n != 1 {
		t.Errorf("the next hop received %d bodies, want the first message's alone", n)
	}
}
