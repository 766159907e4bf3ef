package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// floodLimit is how much a flooding next hop writes at most before it
// gives up: far more than the reply bounds plus what the two sockets'
// buffers can hold, so a client that stopped reading at its bound shows
// as a write that failed well before it.
const floodLimit = 256 << 20

// floodingHop listens on loopback and answers one connection with the
// lines of script (each followed by CRLF), then with flood repeated until
// the client closes or floodLimit octets are written. It reports how
// many octets of flood it wrote. Commands are read and answered in turn:
// script[i] answers the i-th command (script[0] is the greeting).
func floodingHop(t *testing.T, script []string, flood string) (string, <-chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	wrote := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			wrote <- -1
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i, s := range script {
			if i > 0 {
				if _, err := br.ReadString('\n'); err != nil {
					wrote <- -1
					return
				}
			}
			io.WriteString(c, s)
		}
		if len(script) > 0 {
			br.ReadString('\n') // the command the flood answers
		}
		chunk := []byte(strings.Repeat(flood, 64<<10/len(flood)))
		n := 0
		c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		for n < floodLimit {
			k, err := c.Write(chunk)
			n += k
			if err != nil {
				break
			}
		}
		wrote <- n
	}()
	return ln.Addr().String(), wrote
}

// A next hop is outside input: a greeting that never ends its line, a
// reply that never ends, or an endless line in a later reply must end
// the session at a bound, not grow umbra's memory with every octet the
// next hop sends (before, a greeting of 400 MB without a line end was
// read whole). Each case fails the session with the bound's error after
// far less than the flood.
func TestNextHopReplyFloodIsBounded(t *testing.T) {
	cases := []struct {
		name   string
		script []string
		flood  string
		tls    TLSPolicy
		after  bool // the flood answers MAIL, after the prelude
		want   error
		stage  string // the opening's step the error names (Stage)
	}{
		{"greeting without a line end", nil, "220 aaaaaaaaaaaaaaaa", TLSNone, false, ErrReplyLineTooLong, "greeting"},
		{"greeting of endless lines", nil, "220-aaaaaaaaaaaaaa\r\n", TLSNone, false, ErrReplyTooLong, "greeting"},
		{"EHLO reply of endless lines", []string{"220 hop.test\r\n"}, "250-aaaaaaaaaaaaaa\r\n", TLSOpportunistic, false, ErrReplyTooLong, "reply to EHLO"},
		{"EHLO reply without a line end", []string{"220 hop.test\r\n"}, "250-aaaaaaaaaaaaaaa", TLSOpportunistic, false, ErrReplyLineTooLong, "reply to EHLO"},
		{"go-smtp's EHLO reply of endless lines", []string{"220 hop.test\r\n"}, "250-aaaaaaaaaaaaaa\r\n", TLSNone, false, ErrReplyTooLong, "reply to EHLO"},
		{"MAIL reply of endless lines", []string{"220 hop.test\r\n", "250-hop.test\r\n250 8BITMIME\r\n"}, "250-aaaaaaaaaaaaaa\r\n", TLSNone, true, ErrReplyTooLong, ""},
		{"MAIL reply without a line end", []string{"220 hop.test\r\n", "250-hop.test\r\n250 8BITMIME\r\n"}, "250 aaaaaaaaaaaaaaa", TLSNone, true, ErrReplyLineTooLong, ""}, // go-smtp is given no unfinished line: umbra's bound ends it
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, wrote := floodingHop(t, tc.script, tc.flood)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "hub.test", TLS: tc.tls,
				CommandTimeout: 60 * time.Second})
			if tc.after {
				if err != nil {
					t.Fatalf("prelude: %v", err)
				}
				err = c.Mail("a@example.org", nil)
				c.Close()
			} else if err == nil {
				c.Close()
				t.Fatal("the session opened")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if got := Stage(err); got != tc.stage {
				t.Fatalf("stage %q (%v), want %q", got, err, tc.stage)
			}
			if tc.after && errors.Is(err, ErrReplyTooLong) && !strings.Contains(err.Error(), "reply to MAIL") {
				t.Fatalf("error %q does not name the command it answered", err)
			}
			nc.Close()
			if n := <-wrote; n >= floodLimit {
				t.Fatalf("the next hop wrote all %d octets: nothing stopped reading it", n)
			}
		})
	}
}

// Replies within the bounds pass unchanged, whatever the reads' sizes:
// long multi-line replies, lines just under the line bound, and a
// discard reply of thousands of ids.
func TestReplyLimitPassesRepliesWithinBounds(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("220 " + strings.Repeat("g", maxReplyLine-6) + "\r\n")
	for i := 0; i < 5000; i++ {
		in.WriteString("250-0123456789abcdef0123456789abcdef\r\n")
	}
	in.WriteString("250 done\r\n")
	in.WriteString("354 go\r\n")
	in.WriteString("250\r\n") // a bare code ends its reply too
	in.WriteString("221 bye\r\n")
	for _, size := range []int{1, 7, 4096, 1 << 20} {
		a, b := net.Pipe()
		go func() { a.Write(in.Bytes()); a.Close() }()
		r := newReplyLimitConn(b)
		var out bytes.Buffer
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reads of %d: %v", size, err)
			}
		}
		if !bytes.Equal(out.Bytes(), in.Bytes()) {
			t.Fatalf("reads of %d: %d octets out of %d in", size, out.Len(), in.Len())
		}
	}
}
