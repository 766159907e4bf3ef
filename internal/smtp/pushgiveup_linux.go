//go:build linux

package smtp

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerShutDown reports whether the peer has ended its side of c (its FIN
// arrived: POLLRDHUP) or reset it, whatever is still buffered unread
// before that end — a TLS close_notify included, which a peek of the
// bytes alone cannot tell from data. It never reads or waits.
func peerShutDown(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	err = rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		for {
			n, perr := unix.Poll(p, 0)
			if perr == unix.EINTR {
				continue
			}
			closed = perr == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
			return
		}
	})
	return closed && err == nil
}
