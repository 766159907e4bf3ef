package smtp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// oddHop is a next hop on loopback that answers each command by its
// verb from replies (EHLO, MAIL, RCPT, DATA, RSET, QUIT; anything else
// 250), and reports whether a message body (a line after DATA) came.
func oddHop(t *testing.T, pipelining bool, replies map[string]string) (addr string, body <-chan bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan bool, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("220 odd.test ESMTP\r\n"))
		afterData := false
		sawBody := false
		defer func() { got <- sawBody }()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			if afterData {
				sawBody = true
				if line == ".\r\n" {
					afterData = false
					reply, ok := replies["."]
					if !ok {
						reply = "250 2.0.0 queued"
					}
					c.Write([]byte(reply + "\r\n"))
				}
				continue
			}
			reply, ok := replies[verb]
			switch {
			case verb == "EHLO" && !ok:
				reply = "250-odd.test\r\n250 8BITMIME"
				if pipelining {
					reply = "250-odd.test\r\n250-8BITMIME\r\n250 PIPELINING"
				}
			case verb == "DATA" && !ok:
				reply = "354 go ahead"
			case verb == "QUIT":
				c.Write([]byte("221 2.0.0 bye\r\n"))
				return
			case !ok:
				reply = "250 2.0.0 ok"
			}
			if verb == "DATA" && strings.HasPrefix(reply, "354") {
				afterData = true
			}
			c.Write([]byte(reply + "\r\n"))
		}
	}()
	return ln.Addr().String(), got
}

func oddClient(t *testing.T, addr string) *Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "client.test", TLS: TLSNone, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantUnexpected checks err is umbra's own 451 4.4.2 naming the next
// hop's reply as unexpected (never the next hop's success reply itself,
// which would stand in the queue as the reason mail waits).
func wantUnexpected(t *testing.T, err error, reply string) {
	t.Helper()
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (gosmtp.EnhancedCode{4, 4, 2}) ||
		!strings.Contains(se.Message, "unexpected reply to DATA") || !strings.Contains(se.Message, reply) {
		t.Fatalf("got %v (%#v), want 451 4.4.2 unexpected reply to DATA: %s", err, err, reply)
	}
}

// A next hop that answers DATA with anything but 354 or an error (a 250,
// a stray 3xx) broke the protocol: the message is deferred with umbra's
// 451 4.4.2 naming the reply, no body is sent, and the session is not
// used again — on the pipelined path and on the lock-step one.
func TestDataAnsweredWithoutGoAhead(t *testing.T) {
	for _, reply := range []string{"250 2.0.0 I took it without a body", "334 VXNlcm5hbWU6"} {
		t.Run("pipelined "+reply[:3], func(t *testing.T) {
			addr, body := oddHop(t, true, map[string]string{"DATA": reply})
			c := oddClient(t, addr)
			p := c.Pipeline("s@example.org", nil, []Recipient{{Addr: "u@odd.test"}}, [][]byte{[]byte("Subject: x\r\n\r\nbody\r\n")}, false)
			err := p.Data
			if err == nil {
				err = p.Err
			}
			wantUnexpected(t, err, reply)
			if p.Err == nil {
				t.Fatal("the session out of step is kept for another transaction")
			}
			c.Close()
			if <-body {
				t.Fatal("a body was sent without a 354")
			}
		})
		t.Run("lock-step "+reply[:3], func(t *testing.T) {
			addr, body := oddHop(t, false, map[string]string{"DATA": reply})
			c := oddClient(t, addr)
			if err := c.Mail("s@example.org", nil); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("u@odd.test", nil); err != nil {
				t.Fatal(err)
			}
			replies, err := c.SendData([]byte("Subject: x\r\n\r\nbody\r\n"), 1)
			if len(replies) != 0 {
				t.Fatalf("replies %+v to a DATA without 354", replies)
			}
			wantUnexpected(t, err, reply)
			if c.Alive() {
				t.Fatal("the session out of step is kept for another transaction")
			}
			c.Close()
			if <-body {
				t.Fatal("a body was sent without a 354")
			}
		})
	}
}

// A reply whose lines carry different codes (RFC 5321 §4.2.1: one code
// a reply) or a stray 3xx where a 2xx, 4xx or 5xx must come means the
// session is out of step: it ends (the recipients wait, sent again),
// and neither the last line's 250 nor the 3xx is taken as the answer.
func TestOutOfStepRepliesEndTheSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replies map[string]string
		want    string
	}{
		{"mixed codes to RCPT", map[string]string{"RCPT": "550-5.1.1 first\r\n451-4.0.0 second\r\n250 2.0.0 third"}, "malformed reply"},
		{"mixed codes to MAIL", map[string]string{"MAIL": "250-2.1.0 fine\r\n550 5.7.1 not fine"}, "malformed reply"},
		{"3xx to RCPT", map[string]string{"RCPT": "354 go ahead"}, "unexpected reply"},
		{"3xx to the end of the message", map[string]string{".": "354 more"}, "unexpected reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := oddHop(t, true, tc.replies)
			c := oddClient(t, addr)
			p := c.Pipeline("s@example.org", nil, []Recipient{{Addr: "u@odd.test"}}, [][]byte{[]byte("Subject: x\r\n\r\nbody\r\n")}, false)
			if p.Err == nil || !strings.Contains(p.Err.Error(), tc.want) {
				t.Fatalf("session error %v, want %q (mail %v, rcpts %v, data %v, final %+v)", p.Err, tc.want, p.Mail, p.Rcpts, p.Data, p.Final)
			}
			if len(p.Final) != 0 {
				t.Fatalf("final replies %+v from an out-of-step session", p.Final)
			}
			for _, r := range p.Rcpts {
				if r != nil {
					t.Fatalf("a recipient decided by an out-of-step reply: %v", r)
				}
			}
		})
	}
}
