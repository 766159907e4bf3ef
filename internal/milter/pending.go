package milter

import (
	"net"
	"syscall"
)

// pendingInput reports whether c's socket holds bytes not yet read,
// without reading them and without blocking (MSG_PEEK|MSG_DONTWAIT).
// A closed peer (a zero-length read) is not input: the next write or
// read reports it.
func pendingInput(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var b [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for input
	})
	return n > 0
}
