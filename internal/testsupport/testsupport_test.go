package testsupport

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// A reserved address refuses connections and cannot be bound by anyone
// else; Listen takes it over and accepts on it.
func TestReserveHoldsThePortUntilListen(t *testing.T) {
	addr := Reserve(t, "127.0.0.1")
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("a connection to the reserved %s was accepted", addr)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another socket bound the reserved %s", addr)
	}
	s := Silent(t, addr)
	if s.Addr() != addr {
		t.Fatalf("listening on %s, want the reserved %s", s.Addr(), addr)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("the listener that took the reservation over: %v", err)
	}
	defer c.Close()
	select {
	case <-s.Accepted():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not accepted")
	}
	// Silent: not a byte, until Close lets go of the connection.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
		t.Fatalf("the silent peer answered: %d bytes, %v", n, err)
	}
	if n := s.Count(); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	s.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the connection after Close: %v, want it closed", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// The scripted hub answers as its script says and counts what it saw.
func TestHubFollowsItsScript(t *testing.T) {
	h := StartHub(t, "127.0.0.1:0", HubScript{DataReply: "452 4.3.1 full"})
	c, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var got []string
	read := func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.TrimSpace(l))
			if len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	read()
	for _, cmd := range []string{"EHLO a.test", "XSHADOW x", "MAIL FROM:<a@a.test>", "RCPT TO:<b@b.test>", "DATA", "Subject: x\r\n\r\nbody\r\n.", "QUIT"} {
		c.Write([]byte(cmd + "\r\n"))
		read()
	}
	want := "220 peer.test|250-peer.test|250-XSHADOW 3|250 8BITMIME|250 peer-database-1|250 ok|250 ok|354 go on|452 4.3.1 full|221 bye"
	if strings.Join(got, "|") != want {
		t.Fatalf("dialog %q\nwant %q", strings.Join(got, "|"), want)
	}
	if h.Mails.Load() != 1 || h.Copies.Load() != 1 || h.Count() != 1 {
		t.Fatalf("mails %d, copies %d, sessions %d; want 1 each", h.Mails.Load(), h.Copies.Load(), h.Count())
	}
}
