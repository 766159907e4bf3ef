//go:build !linux

package smtp

import "net"

// Elsewhere a push its primary gave up on is answered and kept, as
// before: the primary's discard of the unconfirmed copy removes it.
func peerShutDown(net.Conn) bool { return false }
