package smtp

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

// Per-message work on the fast path allocates only what it keeps
// (issue 15): a domain's labels are checked in place, a reply read from
// a buffered reader costs its text and the list it is returned in, and
// a line handed to go-smtp reuses the session's buffer.
func TestFastPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	if n := testing.AllocsPerRun(100, func() {
		if !validLabels("mail.example.org") {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("validLabels: %v allocations, want 0", n)
	}
	r := strings.NewReader("")
	br := bufio.NewReader(r)
	if n := testing.AllocsPerRun(100, func() {
		r.Reset("250 2.0.0 queued as 1234\r\n")
		br.Reset(r)
		if code, _, err := readReplyCode(br); code != 250 || err != nil {
			t.Fatal(code, err)
		}
	}); n > 2 {
		t.Errorf("readReplyCode: %v allocations, want at most 2 (the line, the list)", n)
	}
	v := &verbConn{}
	b := make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() {
		v.hand([]byte("NOOP\r\n"))
		for len(v.pending) > 0 {
			v.Read(b)
		}
	}); n != 0 {
		t.Errorf("hand: %v allocations per line, want 0", n)
	}
}

// A write to the next hop the socket takes at once (peerWriteConn, with
// the client's await function set, as on every outbound session)
// allocates nothing: it is every command and body write of the fast
// path.
func TestPeerWriteAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w := newPeerWriteConn(nc)
	w.c = &Client{awaitReply: func() func() { return func() {} }}
	line := []byte("NOOP\r\n")
	if n := testing.AllocsPerRun(50, func() {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a write the socket took at once: %v allocations, want 0", n)
	}
}
