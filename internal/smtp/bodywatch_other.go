//go:build !linux

package smtp

import (
	"net"
	"time"
)

// Elsewhere progress is the bytes written (bodywatch.go).
func tcpBytesAcked(*net.TCPConn) (uint64, time.Duration, bool) { return 0, 0, false }
