package smtp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// SR-15: a shadow server that did not read a discard reply whole never
// speaks again on that session — the primary forgets notifications once
// the peer's next command arrives, and a QUIT (end of session) or a MAIL
// (pooled connection) after an unread reply would make it forget
// notifications this server never got.
func TestUnreadDiscardReplyEndsSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	after := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			after <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("220 primary.test ESMTP\r\n"))
		script := []struct{ cmd, reply string }{
			{"EHLO", "250-primary.test\r\n250 XSHADOW 2\r\n"},
			{"XSHADOW", "250 0123456789abcdef\r\n"},
			// The reply breaks off in a line that is no reply line.
			{"XQUERYDISCARD", "250-2.0.0 2 discard notifications\r\n250-00000000000000000000000000000001-abcd\r\nxyz\r\n"},
		}
		for _, s := range script {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, s.cmd) {
				after <- "expected " + s.cmd + ", got " + line
				return
			}
			c.Write([]byte(s.reply))
		}
		line, err := r.ReadString('\n')
		if err != nil {
			after <- "" // closed: the notifications stay at the primary
			return
		}
		after <- strings.TrimSpace(line)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), nc, ClientOptions{LocalName: "shadow.test", CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Shadow("shadow.test"); err != nil {
		t.Fatal(err)
	}
	if ids, err := c.QueryDiscard(1000); err == nil {
		t.Fatalf("a broken reply read as %v", ids)
	}
	c.Quit() // what the end of a session does next
	if got := <-after; got != "" {
		t.Fatalf("after an unread discard reply the shadow server said %q", got)
	}
}
