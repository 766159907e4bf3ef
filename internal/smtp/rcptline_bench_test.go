package smtp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// echoConn answers every pipelined group (MAIL, RCPTs, DATA) with 250s
// and a 354, and every end of message with a 250, in memory.
type echoConn struct{ avail []byte }

func (c *echoConn) Read(b []byte) (int, error) {
	if len(c.avail) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.avail)
	c.avail = c.avail[n:]
	return n, nil
}

func (c *echoConn) Write(b []byte) (int, error) {
	switch {
	case bytes.HasPrefix(b, []byte("EHLO ")):
		c.avail = append(c.avail, "250-bench.test\r\n250-PIPELINING\r\n250 DSN\r\n"...)
	case bytes.HasSuffix(b, []byte("DATA\r\n")):
		for n := bytes.Count(b, []byte("\r\n")) - 1; n > 0; n-- { // MAIL and each RCPT
			c.avail = append(c.avail, "250 2.1.5 ok\r\n"...)
		}
		c.avail = append(c.avail, "354 go ahead\r\n"...)
	case bytes.HasSuffix(b, []byte(".\r\n")):
		c.avail = append(c.avail, "250 2.0.0 queued\r\n"...)
	}
	return len(b), nil
}

func (c *echoConn) Close() error                     { return nil }
func (c *echoConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *echoConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 25} }
func (c *echoConn) SetDeadline(time.Time) error      { return nil }
func (c *echoConn) SetReadDeadline(time.Time) error  { return nil }
func (c *echoConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkPipelineRecipients: one pipelined transaction of a 4 KiB
// message to 1 or 10 recipients, the client's own work (the server is in
// memory).
func BenchmarkPipelineRecipients(b *testing.B) {
	body := [][]byte{bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 64)}
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("rcpts=%d", n), func(b *testing.B) {
			c, err := NewClient(context.Background(), &echoConn{avail: []byte("220 bench.test ESMTP\r\n")},
				ClientOptions{LocalName: "c.test", TLS: TLSNone, CommandTimeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			var rcpts []Recipient
			for i := 0; i < n; i++ {
				rcpts = append(rcpts, Recipient{Addr: fmt.Sprintf("r%d@example.net", i)})
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := c.Pipeline("s@example.org", nil, rcpts, body, false)
				if p.Err != nil || p.Mail != nil || len(p.Final) != 1 {
					b.Fatalf("%+v", p)
				}
			}
		})
	}
}
