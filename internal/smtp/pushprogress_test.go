package smtp

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// slowProxy forwards to addr, taking what the client sends at most
// 16 KiB every pace (a slow but steady reader: the peer's disk, a long
// link); replies pass at once. Its small receive buffer and the
// client's small send buffer make the client's writes wait for it.
func slowProxy(t *testing.T, addr string, pace time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			p, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(c, p); c.Close() }()
			go func() {
				defer p.Close()
				buf := make([]byte, 16<<10)
				for range 100000 { // bounded: at most 1.6 GB
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := p.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
					time.Sleep(pace)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// slowClient is a shadow session with peer through a slowProxy, its
// data_timeout short against the time the body takes to go, its
// command_timeout long against any pause between two reads of the peer.
func slowClient(t *testing.T, peer *Server, dataTimeout time.Duration) *Client {
	t.Helper()
	addr := slowProxy(t, peer.Addrs()[0].String(), 25*time.Millisecond)
	c, wl := logClient(t, addr)
	wl.Conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2"); err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout, c.SubmissionTimeout = 20*time.Second, dataTimeout
	return c
}

func bigBody(n int) []byte {
	line := "Subject: big\r\n\r\n"
	var b bytes.Buffer
	b.WriteString(line)
	row := strings.Repeat("x", 76) + "\r\n"
	for b.Len() < n {
		b.WriteString(row)
	}
	return b.Bytes()
}

// SR-17, SMTP-1 (shadow29 item 3): a copy pushed in one trip whose body
// takes longer to go than data_timeout, to a peer that reads it all
// the time, is kept: the body's writes are bounded by progress (a
// command timeout without any), and data_timeout is the wait for the
// final reply dated from the last progress seen, as delivery's data
// phase (bodywatch.go) — not one deadline for the whole write.
func TestSR17PushOneTripBodyUnderProgressWatch(t *testing.T) {
	peer, q := v5Peer(t)
	c := slowClient(t, peer, 400*time.Millisecond)
	if !c.canPushOneTrip() {
		t.Fatal("no one-trip push")
	}
	body := bigBody(1 << 20)
	m := batchMsg("a@example.org", "x@elsewhere.org")
	if err := c.PushCopy(m, body, "dbA"); err != nil {
		t.Fatalf("a 1 MiB copy to a peer taking 16 KiB every 25ms, data_timeout 400ms: %v", err)
	}
	if len(q.copies) != 1 {
		t.Fatalf("%d copies kept", len(q.copies))
	}
}

// SR-17 (shadow29 item 3): the same for a batch of copies (version 6).
func TestSR17PushBatchBodyUnderProgressWatch(t *testing.T) {
	peer, q := v6Peer(t)
	c := slowClient(t, peer, 400*time.Millisecond)
	if !c.CanPushBatch() {
		t.Fatal("no batch push")
	}
	body := bigBody(150 << 10)
	var recs [][]byte
	for range 3 {
		rec, ok := c.CopyRecord(batchMsg("a@example.org", "x@elsewhere.org"), body)
		if !ok {
			t.Fatal("no record")
		}
		recs = append(recs, rec)
	}
	errs, err := c.PushBatch(recs, "dbA")
	if err != nil {
		t.Fatalf("a batch of 450 KiB to a peer taking 16 KiB every 25ms, data_timeout 400ms: %v", err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("copy %d: %v", i+1, e)
		}
	}
	if len(q.copies) != 3 {
		t.Fatalf("%d copies kept", len(q.copies))
	}
}

// SR-17 (shadow29 item 3), on the test's clock: a reply of a group
// sent with the body is awaited for its own timeout from when it is
// awaited (waitAtLeast), and for data_timeout after the last progress:
// the look at the end of the data wait does not end a read whose own
// timeout runs on; the look after both ends it; progress after the
// floor moves the end again.
func TestSR17ReplyWaitAtLeastItsOwnTimeout(t *testing.T) {
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
	const commandTimeout, dataTimeout = 30 * time.Minute, 10 * time.Minute
	t0 := time.Now()
	clock := t0
	rec := &deadlineConn{Conn: nc}
	w := watchBody(rec, time.Hour)
	defer w.stop()
	w.tcp = nil // progress is the bytes written, dated by the test's clock
	w.now = func() time.Time { return clock }
	w.seenAt = t0
	w.Write([]byte("BDAT 4 LAST\r\nbody"))
	w.awaitReply(dataTimeout)
	w.waitAtLeast(commandTimeout) // an envelope reply, awaited at t0
	last := func() time.Time { d := rec.readDeadlines(); return d[len(d)-1] }
	clock = t0.Add(dataTimeout + time.Minute)
	w.look()
	if !last().After(clock) {
		t.Fatalf("at +%v (data_timeout after the last progress, not the reply's own %v) the read was ended", clock.Sub(t0), commandTimeout)
	}
	clock = t0.Add(commandTimeout + time.Minute)
	w.mu.Lock()
	w.written += 100
	w.wroteAt = clock
	w.mu.Unlock()
	w.look() // progress: data_timeout from now
	if want := clock.Add(dataTimeout); last().Before(want) {
		t.Fatalf("progress at +%v: the read ends at +%v, before data_timeout after it (+%v)", clock.Sub(t0), last().Sub(t0), want.Sub(t0))
	}
	clock = clock.Add(dataTimeout + time.Minute)
	w.look()
	if last().After(clock) {
		t.Fatalf("at +%v, past both waits, the read goes on until +%v", clock.Sub(t0), last().Sub(t0))
	}
}
