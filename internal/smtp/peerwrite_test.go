package smtp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// A write the socket takes at once is umbra's code (no wait reported);
// a write that blocks because the next hop does not read is the next
// hop's time: the client's await function is called while it blocks and
// its end once the bytes are all taken. The bytes arrive whole and in
// order, and a deadline still ends a blocked write as a timeout.
func TestPeerWriteConnReportsBlockedWrites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	peer := <-accepted
	defer peer.Close()
	var began, ended atomic.Int32
	w := newPeerWriteConn(nc)
	w.c = &Client{awaitReply: func() func() {
		began.Add(1)
		return func() { ended.Add(1) }
	}}
	if _, err := w.Write([]byte("EHLO x\r\n")); err != nil {
		t.Fatal(err)
	}
	if began.Load() != 0 {
		t.Fatalf("a write the socket took at once was reported as a wait on the peer")
	}
	big := bytes.Repeat([]byte("0123456789abcdef\r\n"), 64<<20/18) // more than any socket buffer takes
	wrote := make(chan error, 1)
	go func() {
		n, err := w.Write(big)
		if err == nil && n != len(big) {
			err = io.ErrShortWrite
		}
		wrote <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for began.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a write blocked on a peer that reads nothing was never reported as a wait")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ended.Load() != 0 {
		t.Fatal("the wait ended while the write still blocked")
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len("EHLO x\r\n")+len(big))))
		got <- b
	}()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, append([]byte("EHLO x\r\n"), big...)) {
		t.Fatalf("the peer got %d bytes, not what was written", len(b))
	}
	if began.Load() != 1 || ended.Load() != 1 {
		t.Fatalf("one blocked write: %d waits begun, %d ended; want 1 and 1", began.Load(), ended.Load())
	}
	// A deadline ends a blocked write, as it does a plain one.
	w.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = w.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a blocked write past its deadline: %v, want a timeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error timeout", err)
	}
	if began.Load() != 2 || ended.Load() != 2 {
		t.Fatalf("after a write cut by its deadline: %d waits begun, %d ended; want 2 and 2", began.Load(), ended.Load())
	}
}
