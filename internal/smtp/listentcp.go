package smtp

import (
	"context"
	"net"
	"syscall"
)

// Keep-alive of a receive connector's connections: Go's defaults for an
// accepted connection (net.ListenConfig.KeepAlive zero), in seconds.
const (
	keepAliveIdle     = 15
	keepAliveInterval = 15
	keepAliveCount    = 9
)

// listenTCP is net.Listen for the bindings, with the keep-alive of the
// connections it accepts set once, on the listening socket: Linux gives
// an accepted socket the listener's SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL and TCP_KEEPCNT, so Go's four setsockopt(2) calls on
// every accepted connection (KeepAlive -1 turns them off) would only
// repeat them. TCP_NODELAY Go still sets on each. The options are those
// Go sets (TestAcceptedConnectionsKeepAlive).
func listenTCP(network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			for _, o := range []struct{ level, opt, val int }{
				{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, keepAliveIdle},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, keepAliveInterval},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
			} {
				if serr = syscall.SetsockoptInt(int(fd), o.level, o.opt, o.val); serr != nil {
					return
				}
			}
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), network, addr)
}
