package smtp

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptConn is a server that answers from a script, in memory: the
// greeting at once, the EHLO reply after EHLO, part1 after the pipelined
// group (a write ending in DATA), part2 after the end of a message. A
// read with nothing to give is the end of the connection: nothing blocks.
type scriptConn struct {
	avail        []byte
	part1, part2 []byte
}

func (c *scriptConn) Read(b []byte) (int, error) {
	if len(c.avail) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.avail)
	c.avail = c.avail[n:]
	return n, nil
}

func (c *scriptConn) Write(b []byte) (int, error) {
	switch {
	case bytes.HasPrefix(b, []byte("EHLO ")):
		c.avail = append(c.avail, "250-fuzz.test\r\n250-PIPELINING\r\n250 DSN\r\n"...)
	case bytes.HasSuffix(b, []byte("DATA\r\n")):
		c.avail, c.part1 = append(c.avail, c.part1...), nil
	case bytes.HasSuffix(b, []byte(".\r\n")):
		c.avail, c.part2 = append(c.avail, c.part2...), nil
	}
	return len(b), nil
}

func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 25} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzPipelineReplies: whatever a server answers to a pipelined
// transaction (the replies to MAIL, three RCPTs and DATA, then to the end
// of the message, split at the first NUL), Pipeline never panics or
// hangs, gives one result per recipient unless the connection broke,
// at most one final reply, and a final reply only after a 354.
func FuzzPipelineReplies(f *testing.F) {
	f.Add([]byte("250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n\x00250 2.0.0 queued\r\n"))
	f.Add([]byte("250 ok\r\n550 no\r\n550 no\r\n550 no\r\n554 5.5.1 no valid recipients\r\n\x00"))
	f.Add([]byte("451 4.3.0 busy\r\n503 5.5.1 bad sequence\r\n503 x\r\n503 x\r\n503 x\r\n"))
	f.Add([]byte("250-a\r\n250 b\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n\x00250 ok\r\n250 extra\r\n"))
	f.Add([]byte("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n\x00421 4.4.2 bye\r\n"))
	f.Add([]byte("2"))
	f.Fuzz(func(t *testing.T, script []byte) {
		p1, p2, _ := bytes.Cut(script, []byte{0})
		sc := &scriptConn{avail: []byte("220 fuzz.test ESMTP\r\n"), part1: p1, part2: p2}
		c, err := NewClient(context.Background(), sc, ClientOptions{LocalName: "c.test", TLS: TLSNone, CommandTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rcpts := []Recipient{{Addr: "a@example.net"}, {Addr: "b@example.net"}, {Addr: "c@example.net"}}
		p := c.Pipeline("s@example.org", nil, rcpts, [][]byte{[]byte("Subject: f\r\n\r\nbody\r\n")}, false)
		if p.Err == nil && p.Mail == nil && len(p.Rcpts) != len(rcpts) {
			t.Fatalf("%d recipient results without a break", len(p.Rcpts))
		}
		if len(p.Final) > 1 {
			t.Fatalf("%d final replies for SMTP", len(p.Final))
		}
		if len(p.Final) > 0 && !strings.Contains(string(p1), "354") {
			t.Fatalf("a final reply without a 354")
		}
		for _, e := range append(append([]error{p.Mail, p.Data}, p.Rcpts...), p.Err) {
			if e != nil {
				_ = Reply(e)
			}
		}
	})
}
