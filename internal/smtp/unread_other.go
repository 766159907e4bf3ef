//go:build !linux

package smtp

import "net"

// unsentBytes: the send queue is read on Linux only (unread_linux.go).
func unsentBytes(net.Conn) (int, bool) { return 0, false }
