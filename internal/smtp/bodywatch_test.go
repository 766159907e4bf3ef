package smtp

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// deadlineConn records the read deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	mu     sync.Mutex
	reads  []time.Time
	writes []time.Time
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.reads = append(c.reads, t)
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) readDeadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.reads...)
}

// rt28d F2: a next hop that took the whole body and never answers is
// waited for data_timeout, as the README's configuration table says
// ("the next hop's reply to the end of the message"), not 1.5 times it:
// the first look after the final dot compared the bytes acknowledged
// with the count before the body (or with the last look while it was
// written) and took the body's own bytes for progress made while the
// reply was awaited, setting the deadline again a data timeout from
// then. A look that finds nothing taken since the final dot leaves the
// deadline where it was. The looks are called directly (no timer is
// waited for). Over real TCP on loopback, with the kernel's count
// (TCP_INFO) and without it (the bytes written). SMTP-1, Q-3.
func TestDataTimeoutIsTheConfiguredWait(t *testing.T) {
	for _, kernel := range []bool{true, false} {
		name := "bytes written"
		if kernel {
			name = "kernel's count"
		}
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				io.Copy(io.Discard, c) // takes the whole body, never answers
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			tcp := nc.(*net.TCPConn)
			if _, _, ok := tcpBytesAcked(tcp); kernel && !ok {
				t.Skip("no TCP_INFO here")
			}
			rec := &deadlineConn{Conn: nc}
			w := watchBody(rec, time.Hour)
			defer w.stop()
			w.tcp = nil
			if kernel {
				w.tcp = tcp
			}
			body := make([]byte, 64<<10)
			if _, err := w.Write(body); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 500; i++ { // bounded: until the next hop has taken it all
				if n, _, _ := tcpBytesAcked(tcp); n >= uint64(len(body)) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			const dataTimeout = 30 * time.Second
			w.awaitReply(dataTimeout)
			set := rec.readDeadlines()
			if len(set) != 1 {
				t.Fatalf("read deadlines after the final dot: %v, want one", set)
			}
			w.look()
			w.look()
			if after := rec.readDeadlines(); len(after) != 1 {
				t.Fatalf("the wait for the reply was set again by looks that found nothing taken since the final dot: "+
					"%v (the first %v after the dot): it runs past data_timeout", after, dataTimeout)
			}
		})
	}
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writes = append(c.writes, t)
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) writeDeadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.writes...)
}

// rt28d F2, its sibling for the data transfer: a body the next hop takes
// nothing more of is given up one command timeout after its last
// progress, as command_timeout says, not after one to two (the first
// look took the bytes written before it for progress made since). The
// clock is the test's; the looks are called directly. SMTP-1.
func TestBodyStallIsOneCommandTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const commandTimeout = time.Hour // no timer fires in the test
	t0 := time.Now()
	clock := t0
	rec := &deadlineConn{Conn: nc}
	w := watchBody(rec, commandTimeout)
	defer w.stop()
	w.tcp = nil // progress is the bytes written: the test's clock says when
	w.now = func() time.Time { return clock }
	w.seenAt = t0
	clock = t0.Add(time.Second)
	if _, err := w.Write([]byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(commandTimeout) // the first look, as its timer would call it
	w.look()
	if got := rec.writeDeadlines(); len(got) != 1 || !got[0].IsZero() {
		t.Fatalf("write deadlines %v: a stall found less than a command timeout after the last progress", got)
	}
	if last := t0.Add(time.Second); w.due.After(last.Add(commandTimeout)) {
		t.Fatalf("next look due %v after the last progress: a stall would be found only then, not a command timeout (%v) after it",
			w.due.Sub(last), commandTimeout)
	}
	clock = w.due
	w.look()
	got := rec.writeDeadlines()
	if len(got) != 2 || got[1].IsZero() || got[1].After(clock) {
		t.Fatalf("write deadlines %v: no stall found a command timeout after the last progress", got)
	}
}

// fullDeadlineConn records every deadline set on a connection.
type fullDeadlineConn struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (c *fullDeadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.set = append(c.set, t)
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// rt28d F2, its sibling for each command: umbra's own commands on an
// outbound session (RSET, the shadow verbs) wait command_timeout for
// their reply, as every other command does, not a fixed two minutes (a
// hung next hop held a session that long whatever command_timeout said,
// and a slow one was cut at two minutes under a longer one). SMTP-1,
// W-7.
func TestOwnCommandsWaitCommandTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		c.Write([]byte("220 hop ESMTP\r\n"))
		r := bufio.NewReader(c)
		for range 10 {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(l), "EHLO") {
				c.Write([]byte("250-hop\r\n250 PIPELINING\r\n"))
			} else {
				c.Write([]byte("250 2.0.0 ok\r\n"))
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &fullDeadlineConn{Conn: nc}
	const commandTimeout = 7 * time.Second
	c, err := NewClient(contextBackground(), rec, ClientOptions{LocalName: "umbra.test", TLS: TLSNone, CommandTimeout: commandTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := len(rec.set)
	start := time.Now()
	if err := c.Rset(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	set := append([]time.Time(nil), rec.set[before:]...)
	rec.mu.Unlock()
	var bound time.Time
	for _, d := range set {
		if !d.IsZero() {
			bound = d
		}
	}
	if bound.IsZero() || bound.Sub(start) > commandTimeout+time.Minute/2 {
		t.Fatalf("RSET's reply awaited until %v after it was sent, want command_timeout (%v)", bound.Sub(start), commandTimeout)
	}
}
