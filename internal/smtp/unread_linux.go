//go:build linux

package smtp

import (
	"net"

	"golang.org/x/sys/unix"
)

// unsentBytes is what of the replies written to c its client has not
// taken yet: the bytes still in the socket's send queue, unsent or
// unacknowledged (SIOCOUTQ); ok false where it cannot be read.
func unsentBytes(c net.Conn) (int, bool) {
	tc, isTCP := c.(*net.TCPConn)
	if !isTCP {
		return 0, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	n, ok := 0, false
	rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			n, ok = v, true
		}
	})
	return n, ok
}
