package smtp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// slowReader is a next hop that answers the envelope at once and then
// reads the message body step by step: step bytes every pause, or
// nothing at all after stallAfter bytes (a hung receiver), then answers
// the final dot with 250.
func slowReader(t *testing.T, step int, pause time.Duration, stallAfter int) (addr string, got chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); ln.Close() })
	got = make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		br := bufio.NewReaderSize(c, 4096)
		io.WriteString(c, "220 slow.test ESMTP\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				got <- -1
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"):
				io.WriteString(c, "250-slow.test\r\n250 8BITMIME\r\n")
			case cmd == "DATA":
				io.WriteString(c, "354 go on\r\n")
				n := 0
				buf := make([]byte, step)
				var tail []byte
				for {
					if stallAfter > 0 && n >= stallAfter {
						<-stop // never reads again
						got <- n
						return
					}
					time.Sleep(pause)
					k, err := br.Read(buf)
					n += k
					tail = append(tail, buf[:k]...)
					tail = tail[max(0, len(tail)-5):]
					if bytes.Equal(tail, []byte("\r\n.\r\n")) || err != nil {
						break
					}
				}
				io.WriteString(c, "250 2.0.0 queued\r\n")
				got <- n
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	}()
	return ln.Addr().String(), got
}

// The data timeout bounds the wait for the reply to the final dot, and
// the command timeout a stall, not the whole transfer: a next hop that
// takes the body slowly but steadily (a slow link; RFC 5321 §4.5.3.2.5
// bounds each block, not the message) gets the whole message, however
// long that takes in all. The kernel takes megabytes of the body into
// the socket at once, and a write that finds the buffer full waits until
// half of it has drained — far longer than the command timeout at this
// pace, though the next hop reads all the time: progress is what counts.
// Before, the body's writes and the final reply shared one deadline, and
// then each write had its own; both failed here.
func TestSlowSteadyReceiverGetsTheWholeBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 4<<20/64) // 4 MiB
	addr, got := slowReader(t, 32<<10, 50*time.Millisecond, 0)                                                   // ~6 s in all: 4 command timeouts
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone,
		CommandTimeout: 1500 * time.Millisecond, DataTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.net", nil); err != nil {
		t.Fatal(err)
	}
	replies, err := c.SendData(body, 1)
	if err != nil {
		t.Fatalf("a steady transfer longer than the timeouts failed: %v", err)
	}
	if len(replies) != 1 || replies[0].Err != nil {
		t.Fatalf("replies %+v", replies)
	}
	if n := <-got; n < len(body) {
		t.Fatalf("the receiver got %d of %d bytes", n, len(body))
	}
}

// A receiver that stops reading in the middle of the body is given up
// on after the command timeout (a block that does not move), not kept
// for ever.
func TestStalledReceiverIsGivenUp(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 8<<20/64) // 8 MiB
	addr, _ := slowReader(t, 64<<10, 0, 256<<10)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone,
		CommandTimeout: 500 * time.Millisecond, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.net", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.SendData(body, 1); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a stalled transfer succeeded")
		}
	case <-time.After(30 * time.Second): // a bound on the test: the data timeout (1 h) must not be what ends it
		t.Fatal("a stalled receiver held the transfer past the command timeout")
	}
}
