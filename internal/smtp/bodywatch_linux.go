//go:build linux

package smtp

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpBytesAcked is the bytes the peer acknowledged on c (TCP_INFO).
func tcpBytesAcked(c *net.TCPConn) (uint64, bool) {
	if c == nil {
		return 0, false
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n uint64
	var ok bool
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n, ok = info.Bytes_acked, true
		}
	})
	return n, ok
}
