package smtp

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// SPEC SMTP-1: a receive connector's connections keep TCP keep-alive
// (a client that vanished is found long before an SMTP timeout would),
// with Go's own defaults — probes after 15 s idle, every 15 s, 9 of them
// — and no delay of small writes (TCP_NODELAY: a reply goes out at
// once). The keep-alive options are set once on the listening socket,
// whose accepted connections inherit them, not four system calls on
// every accepted connection (one a message for a client that opens a
// connection per message).
func TestAcceptedConnectionsKeepAlive(t *testing.T) {
	ln, err := listenTCP("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type opts struct{ keep, idle, intvl, cnt, nodelay int }
	got := make(chan opts, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- opts{-1, -1, -1, -1, -1}
			return
		}
		defer c.Close()
		raw, _ := c.(*net.TCPConn).SyscallConn()
		var o opts
		raw.Control(func(fd uintptr) {
			o.keep, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			o.idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
			o.intvl, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
			o.cnt, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
			o.nodelay, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
		})
		got <- o
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := <-got
	if o != (opts{1, 15, 15, 9, 1}) {
		t.Errorf("accepted connection: SO_KEEPALIVE %d, TCP_KEEPIDLE %d, TCP_KEEPINTVL %d, TCP_KEEPCNT %d, TCP_NODELAY %d; want 1, 15, 15, 9, 1",
			o.keep, o.idle, o.intvl, o.cnt, o.nodelay)
	}
}
