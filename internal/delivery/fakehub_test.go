package delivery

import (
	"net"
	"testing"

	"umbra/internal/testsupport"
)

// deadPeer accepts connections on addr and closes each at once (a hub
// whose daemon is gone behind a listening port); Count is the
// connections it took.
func deadPeer(t *testing.T, addr string) *testsupport.Server {
	t.Helper()
	return testsupport.Serve(t, addr, func(c net.Conn) { c.Close() })
}
