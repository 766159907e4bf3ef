package smtp

import (
	"fmt"
	"testing"

	"umbra/internal/config"
	"umbra/internal/testsupport"
)

// freeAddrIn is a port of [lo, hi) on ip free a moment ago, for tests
// that listen on an address of their own rather than one the kernel
// picks; tried from a random port on, so that test processes running at
// once seldom race for the same one.
func freeAddrIn(t *testing.T, ip string, lo, hi int) string {
	t.Helper()
	return testsupport.AddrInRange(t, ip, lo, hi-lo)
}

// transportConnectorAt is transportConnector bound to addr.
func transportConnectorAt(t *testing.T, addr string) []config.ReceiveConnector {
	t.Helper()
	return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, addr, credsFile(t)))
}

// rt39Addr: the address of the rt39 tests, 127.0.0.171, ports 9500-9999.
func rt39Addr(t *testing.T) string { return freeAddrIn(t, "127.0.0.171", 9500, 10000) }

func rt39Connector(t *testing.T) []config.ReceiveConnector {
	return transportConnectorAt(t, rt39Addr(t))
}

// verbs40Addr: the address of the verbs40 tests, 127.0.0.128, ports
// 10500-10999.
func verbs40Addr(t *testing.T) string { return freeAddrIn(t, "127.0.0.128", 10500, 11000) }

func verbs40Connector(t *testing.T) []config.ReceiveConnector {
	return transportConnectorAt(t, verbs40Addr(t))
}
