package smtp

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umbra/internal/orgid"
)

// dataSegsIn is how many segments with data the socket received.
func dataSegsIn(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	var serr error
	raw.Control(func(fd uintptr) {
		var ti *unix.TCPInfo
		ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if ti != nil {
			n = ti.Data_segs_in
		}
	})
	if serr != nil {
		t.Skipf("TCP_INFO: %v", serr)
	}
	return n
}

// RFC 2920 §3.1: the replies to a pipelined MAIL, RCPTs and DATA leave
// the listener in one segment (one wakeup of the client, as a shadow
// copy on receipt or a relay between transport servers sends them), in
// order, each its own; a refused recipient's reply is among them; and a
// 250 is never held while the session waits for input — a MAIL sent
// alone is answered alone.
func TestPipelinedRepliesOneSegment(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, `
  - name: mx
    bindings: ["127.0.0.1:0"]
    permissions: {anonymous: [submit]}
`)...)
	c, err := net.DialTimeout("tcp", s.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	readReplyLines := func(n int) []string {
		t.Helper()
		var out []string
		for len(out) < n {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", out, err)
			}
			if len(l) > 3 && l[3] == '-' {
				continue
			}
			out = append(out, strings.TrimRight(l, "\r\n"))
		}
		return out
	}
	readReplyLines(1) // greeting
	c.Write([]byte("EHLO client.test\r\n"))
	readReplyLines(1)
	before := dataSegsIn(t, c)
	c.Write([]byte("MAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"))
	got := readReplyLines(5)
	for i, want := range []string{"250 ", "250 ", "5", "250 ", "354 "} {
		if !strings.HasPrefix(got[i], want) {
			t.Fatalf("replies %q: #%d is not %q", got, i, want)
		}
	}
	if segs := dataSegsIn(t, c) - before; segs != 1 {
		t.Fatalf("the replies to a pipelined group came in %d segments, want 1", segs)
	}
	c.Write([]byte("Subject: p\r\n\r\nbody\r\n.\r\n"))
	if got := readReplyLines(1); !strings.HasPrefix(got[0], "250 ") || q.count() != 1 {
		t.Fatalf("end of data: %q, queued %d", got, q.count())
	}
	// Lock-step: each reply comes before the next command is sent (a
	// held 250 would leave this client waiting for ever).
	for _, cmd := range []string{"MAIL FROM:<s@example.org>", "RCPT TO:<a@example.test>", "RSET"} {
		c.Write([]byte(cmd + "\r\n"))
		if got := readReplyLines(1); !strings.HasPrefix(got[0], "250 ") {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
}

// A copy on receipt in one round trip (version 5): the replies to MAIL,
// the RCPTs and BDAT LAST go in one segment, also when the chunk is
// longer than the layer's reader holds (the held replies are not
// written while the chunk is read).
func TestOneTripCopyRepliesOneSegment(t *testing.T) {
	peer, q := v5Peer(t)
	c, err := net.DialTimeout("tcp", peer.Addrs()[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(l) > 3 && l[3] != '-' {
				return strings.TrimRight(l, "\r\n")
			}
		}
	}
	reply()
	for _, cmd := range []string{"EHLO hub2.test", authHub2, "XSHADOW hub2"} {
		c.Write([]byte(cmd + "\r\n"))
		reply()
	}
	body := orgid.Header + ": " + orgid.New() + "\r\nSubject: copy\r\n\r\n" + strings.Repeat("a line of the body\r\n", 1000)
	before := dataSegsIn(t, c)
	c.Write([]byte(fmt.Sprintf("MAIL FROM:<a@example.org> XSHADOWCOPY=db1\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<y@elsewhere.org>\r\nBDAT %d LAST\r\n%s", len(body), body)))
	for _, want := range []string{"250 ", "250 ", "250 ", "250 2.0.0 Shadow copy kept"} {
		if got := reply(); !strings.HasPrefix(got, want) {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	if segs := dataSegsIn(t, c) - before; segs != 1 {
		t.Fatalf("the replies came in %d segments, want 1", segs)
	}
	if len(q.copies) != 1 {
		t.Fatalf("%d copies", len(q.copies))
	}
}
