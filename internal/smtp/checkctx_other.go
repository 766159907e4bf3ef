//go:build !linux

package smtp

import "net"

// Elsewhere the end-of-data checks end with the server's context and
// their own time limits only.
func peekSupported(net.Conn) bool { return false }

func peerClosed(net.Conn) bool { return false }
