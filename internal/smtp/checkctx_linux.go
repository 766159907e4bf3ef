//go:build linux

package smtp

import (
	"net"
	"syscall"
)

func peekSupported(c net.Conn) bool {
	_, ok := c.(syscall.Conn)
	return ok
}

// peerClosed looks, without taking any byte, whether the client has
// closed its side (end of stream) or reset the connection. Data the
// client pipelined stays where it is.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		case rerr != nil:
			closed = true // reset
		case n == 0:
			closed = true // end of stream
		}
		return true
	})
	return closed || err != nil
}
