//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package milter

import "net"

// pendingInput: without a non-blocking peek, only what the reader
// already holds is seen (session.unasked).
func pendingInput(net.Conn) bool { return false }
