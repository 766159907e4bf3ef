package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// sendFrom sends msg (rawSend's form) to addr from the address src (a
// client that is not a server of the topology) and returns the reply.
func sendFrom(t *testing.T, src, addr, msg string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	s := &rawSession{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<a@example.org>", "250")
	s.cmd("RCPT TO:<b@remote.example>", "250")
	s.cmd("DATA", "354")
	r := s.cmd(msg+"\r\n.", "")
	return r[len(r)-1]
}

// Two hubs with the same max_message_size: a message of exactly that
// size is accepted by hub-a (the limit is inclusive, RFC 1870) and its
// copy on receipt, larger by hub-a's Received field and the organisation
// id, is kept by hub-b (a transport server's allowance) instead of being
// refused there ("no shadow copy"); one byte more is refused by hub-a from a client that is not a server.
func TestShadowCopyAtSizeLimitTwoHubs(t *testing.T) {
	a, b, _, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	for _, cfg := range []string{cfgA, cfgB} {
		editConfig(t, cfg, "limits: {max_connections_per_source: 500}", "limits: {max_connections_per_source: 500, max_message_size: 20000}")
	}
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	msg := func(n int) string { // n bytes as sent, the final CRLF included
		head := "Subject: at-limit\r\n\r\n"
		line := strings.Repeat("y", 78) + "\r\n"
		body := strings.Repeat(line, (n-len(head))/len(line))
		rest := n - len(head) - len(body)
		if rest > 0 {
			body = body[:len(body)-len(line)] + strings.Repeat("z", len(line)+rest-2) + "\r\n"
		}
		m := head + body
		if len(m) != n {
			t.Fatalf("message of %d bytes, want %d", len(m), n)
		}
		return strings.TrimSuffix(m, "\r\n") // rawSend adds the CRLF before the dot
	}
	reply := sendFrom(t, "127.0.0.9", a, msg(20000))
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
		ha.dumpLog()
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
	if reply := sendFrom(t, "127.0.0.9", a, msg(20001)); !strings.HasPrefix(reply, "552 5.3.4") {
		t.Fatalf("one byte over the limit: %q", reply)
	}
}
