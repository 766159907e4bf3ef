package smtp

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// deadlineConn records the read deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	mu    sync.Mutex
	reads []time.Time
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
