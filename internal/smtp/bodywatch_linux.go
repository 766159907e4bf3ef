//go:build linux

package smtp

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// tcpBytesAcked is the bytes the peer acknowledged on c and how long
// ago its last acknowledgement of any kind came (TCP_INFO): a probe's
// too, so it dates no progress (bodywatch.go).
func tcpBytesAcked(c *net.TCPConn) (uint64, time.Duration, bool) {
	if c == nil {
		return 0, 0, false
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var n uint64
	var ago time.Duration
	var ok bool
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n, ago, ok = info.Bytes_acked, time.Duration(info.Last_ack_recv)*time.Millisecond, true
		}
	})
	return n, ago, ok
}
