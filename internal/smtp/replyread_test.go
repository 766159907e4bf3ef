package smtp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// readCounter counts the reads of a client's connection.
type readCounter struct {
	net.Conn
	reads atomic.Int64
}

func (r *readCounter) Read(b []byte) (int, error) {
	r.reads.Add(1)
	return r.Conn.Read(b)
}

// A shadow verb's reply is read a buffer at a time, not a byte at a time
// (a watch session's discard reply of many ids cost one read(2) per
// byte), and the bytes read ahead with it are not lost: a reply the
// server sent together with the discard reply (here the greeting's
// answer to go-smtp's next command, written in the same segment) still
// reaches go-smtp.
func TestShadowReplyReadBuffered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 200
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprintf("%032x", i+1))
	}
	served := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("220 primary.test ESMTP\r\n"))
		var reply strings.Builder
		fmt.Fprintf(&reply, "250-2.0.0 %d discard notifications\r\n", n)
		for i, id := range ids {
			sep := "-"
			if i == n-1 {
				sep = " "
			}
			reply.WriteString("250" + sep + id + "\r\n")
		}
		script := []struct{ cmd, reply string }{
			{"EHLO", "250-primary.test\r\n250-PIPELINING\r\n250 XSHADOW 4\r\n"},
			{"XSHADOW", "250 0123456789abcdef\r\n"},
			// The reply to the NOOP that follows comes in the same
			// write, before it was asked for.
			{"XQUERYDISCARD", reply.String() + "250 2.0.0 early\r\n"},
			{"NOOP", ""},
			{"XQUERYDISCARD", "250 2.0.0 0 discard notifications\r\n"},
		}
		for _, s := range script {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, s.cmd) {
				served <- "expected " + s.cmd + ", got " + line
				return
			}
			c.Write([]byte(s.reply))
		}
		served <- ""
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rc := &readCounter{Conn: nc}
	c, err := NewClient(context.Background(), rc, ClientOptions{LocalName: "shadow.test", CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Shadow("shadow.test"); err != nil {
		t.Fatal(err)
	}
	before := rc.reads.Load()
	got, err := c.QueryDiscard(1000)
	if err != nil || len(got) != n || got[0] != ids[0] || got[n-1] != ids[n-1] {
		t.Fatalf("QueryDiscard: %d ids, %v", len(got), err)
	}
	// The reply is 7,400 bytes: a few buffers' worth of reads, however
	// TCP cut it. A byte at a time it was more than 7,000.
	if reads := rc.reads.Load() - before; reads > 20 {
		t.Fatalf("the discard reply took %d reads", reads)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("go-smtp lost the reply read ahead: %v", err)
	}
	if got, err := c.QueryDiscard(1000); err != nil || len(got) != 0 {
		t.Fatalf("the next query: %v %v", got, err)
	}
	if msg := <-served; msg != "" {
		t.Fatal(msg)
	}
}

// writeCounter counts the writes of a client's connection.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (w *writeCounter) Write(b []byte) (int, error) {
	w.writes.Add(1)
	return w.Conn.Write(b)
}

// A small message given in parts (the organisation id line in front of
// the stored body) goes to the next hop in one write after the 354, not
// one per part: each write is a segment and a wakeup of the next hop.
// The bytes are those of the parts one after the other, dot-stuffed.
func TestPipelineBodyOneWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("220 next.test ESMTP\r\n"))
		line, _ := r.ReadString('\n') // EHLO
		c.Write([]byte("250-next.test\r\n250 PIPELINING\r\n"))
		for _, want := range []string{"MAIL", "RCPT", "DATA"} {
			if line, _ = r.ReadString('\n'); !strings.HasPrefix(line, want) {
				got <- "expected " + want + ", got " + line
				return
			}
		}
		c.Write([]byte("250 ok\r\n250 ok\r\n354 go on\r\n"))
		var body strings.Builder
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				got <- err.Error()
				return
			}
			if l == ".\r\n" {
				break
			}
			body.WriteString(l)
		}
		c.Write([]byte("250 2.0.0 queued\r\n"))
		got <- body.String()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	wc := &writeCounter{Conn: nc}
	c, err := NewClient(context.Background(), wc, ClientOptions{LocalName: "client.test", CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts := [][]byte{[]byte("Received: by client.test\r\n"), []byte("X-Id: 1\r\n"), []byte("Subject: x\r\n\r\n.dot\r\nbody\r\n")}
	before := wc.writes.Load()
	p := c.Pipeline("a@example.org", nil, []Recipient{{Addr: "b@example.org"}}, parts, false)
	if p.Err != nil || p.Mail != nil || len(p.Final) != 1 || p.Final[0].Err != nil {
		t.Fatalf("%+v", p)
	}
	if w := wc.writes.Load() - before; w != 2 { // the commands, then the body
		t.Fatalf("the transaction took %d writes, want 2", w)
	}
	if b := <-got; b != "Received: by client.test\r\nX-Id: 1\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n" {
		t.Fatalf("body %q", b)
	}
}
