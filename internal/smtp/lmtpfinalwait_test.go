package smtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lmtpHop is an LMTP server on loopback that accepts every recipient
// and, after the final dot, writes finals in order, pausing gap before
// each but the first. It offers PIPELINING when pipelining is set.
func lmtpHop(t *testing.T, pipelining bool, gap time.Duration, finals ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		io.WriteString(c, "220 lmtp.test LMTP\r\n")
		inData := false
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if inData {
				if line != ".\r\n" {
					continue
				}
				inData = false
				for k, f := range finals {
					if k > 0 {
						select {
						case <-time.After(gap):
						case <-stop:
							return
						}
					}
					io.WriteString(c, f)
				}
				continue
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "LHLO"):
				if pipelining {
					io.WriteString(c, "250-lmtp.test\r\n250 PIPELINING\r\n")
				} else {
					io.WriteString(c, "250 lmtp.test\r\n")
				}
			case cmd == "DATA":
				io.WriteString(c, "354 go on\r\n")
				inData = true
			case cmd == "QUIT":
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	}()
	return ln.Addr().String()
}

func lmtpClient(t *testing.T, addr string, dataTimeout time.Duration) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone, LMTP: true,
		CommandTimeout: 5 * time.Second, DataTimeout: dataTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lmtpSend sends one message to three recipients, lock-step or
// pipelined, and returns the final replies and the error.
func lmtpSend(t *testing.T, c *Client, pipelined bool) ([]DataReply, error) {
	t.Helper()
	rcpts := []string{"a@example.net", "b@example.net", "c@example.net"}
	body := []byte("Subject: x\r\n\r\nhello\r\n")
	if pipelined {
		rs := make([]Recipient, len(rcpts))
		for k, r := range rcpts {
			rs[k] = Recipient{Addr: r}
		}
		p := c.Pipeline("a@example.org", nil, rs, [][]byte{body}, true)
		return p.Final, p.Err
	}
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	return c.SendData(body, len(rcpts))
}

// SPEC SMTP-1, Q-3: each of LMTP's per-recipient replies to the end of
// the message gets its own data_timeout, counted from the reply before
// it — as SMTP's one final reply gets it from the end of the message. An
// LMTP server that delivers to each mailbox in turn, each within the
// timeout, is not cut off after the first timeout in all. Seen to fail
// first: the three replies shared one wait, and the third, due 1.2 s
// after the second (2.4 s after the dot, data_timeout 2 s), was
// "timed out after 2s waiting for the reply to the end of the message".
func TestLMTPEachFinalReplyHasItsOwnWait(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		name := "lock-step"
		if pipelined {
			name = "pipelined"
		}
		t.Run(name, func(t *testing.T) {
			addr := lmtpHop(t, pipelined, 1200*time.Millisecond, "250 2.0.0 a ok\r\n", "250 2.0.0 b ok\r\n", "250 2.0.0 c ok\r\n")
			c := lmtpClient(t, addr, 2*time.Second)
			replies, err := lmtpSend(t, c, pipelined)
			if err != nil || len(replies) != 3 {
				t.Fatalf("replies %+v, err %v", replies, err)
			}
			for k, r := range replies {
				if r.Err != nil || r.Code != 250 {
					t.Fatalf("reply %d: %+v", k, r)
				}
			}
		})
	}
}

// SPEC SMTP-1: a reply of LMTP's that cannot be read, after one that
// could, is the final reply error "unreadable reply to the end of the
// message" (FinalReplyError), the replies before it kept — in lock-step
// and pipelined transactions alike.
func TestLMTPUnreadableFinalReplyIsFinalReplyError(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		name := "lock-step"
		if pipelined {
			name = "pipelined"
		}
		t.Run(name, func(t *testing.T) {
			addr := lmtpHop(t, pipelined, 0, "250 2.0.0 a ok\r\n", "2x0 what\r\n")
			c := lmtpClient(t, addr, 2*time.Second)
			replies, err := lmtpSend(t, c, pipelined)
			var fr *FinalReplyError
			if !errors.As(err, &fr) || !fr.Unreadable() || len(replies) != 1 {
				t.Fatalf("replies %+v, err %v: want the first reply and an unreadable FinalReplyError", replies, err)
			}
		})
	}
}

// SPEC SMTP-1 (deliv48): a DATA a server opened though it refused every
// recipient (RFC 2920 §3.1) is never ended with the empty message RFC
// 2920 suggests — a lone dot ends whatever transaction the server holds,
// an empty message delivered to recipients umbra never saw accepted —
// and so no reply to it is read: the connection is closed, and the
// recipient keeps its own RCPT reply. (Before deliv48 the dot went, and
// this test, then TestEmptyDataFinalReplyReadAsAMessagesIs, checked that
// its reply was read as a message's is; words49 named it for what it
// checks now.)
func TestDataWithoutAcceptedRecipientIsAbandonedWithoutADot(t *testing.T) {
	// The server would answer a dot as a message's end (a 250, a
	// malformed line, a stray 354): none of them may be awaited.
	for _, final := range []string{"250 2.0.0 ok\r\n", "2x0 what\r\n", "354 more\r\n"} {
		t.Run(strings.Fields(final)[0], func(t *testing.T) {
			var dots atomic.Int32
			served := make(chan struct{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				defer close(served)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				io.WriteString(c, "220 mx.test ESMTP\r\n")
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						io.WriteString(c, "250-mx.test\r\n250 PIPELINING\r\n")
					case strings.HasPrefix(cmd, "RCPT"):
						io.WriteString(c, "550 5.1.1 no such user\r\n")
					case cmd == "DATA":
						io.WriteString(c, "354 go on\r\n")
					case cmd == ".":
						dots.Add(1)
						io.WriteString(c, final)
					default:
						io.WriteString(c, "250 ok\r\n")
					}
				}
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: TLSNone,
				CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			p := c.Pipeline("a@example.org", nil, []Recipient{{Addr: "b@example.net"}}, [][]byte{[]byte("x\r\n")}, false)
			if !errors.Is(p.Err, errDataAbandoned) || len(p.Final) != 0 {
				t.Fatalf("err %v, final %+v: want the DATA abandoned, no final reply read", p.Err, p.Final)
			}
			if len(p.Rcpts) != 1 || !strings.HasPrefix(Reply(p.Rcpts[0]), "550 5.1.1") {
				t.Errorf("recipient replies %v: want its own 550", p.Rcpts)
			}
			// The server reads to the close; had a dot been sent it
			// counted it before.
			c.Close()
			select {
			case <-served:
			case <-time.After(10 * time.Second): // a bound on the test, not a timing assertion
				t.Fatal("the server never saw the connection close")
			}
			if n := dots.Load(); n != 0 {
				t.Errorf("the server got %d lone dot(s): an empty message ended its DATA", n)
			}
		})
	}
}
