package smtp

import (
	"fmt"
	"net"
	"testing"

	"umbra/internal/config"
)

// rt39Addr is a free port of 39500-39999 on 127.0.0.171, the address of
// this file's tests.
func rt39Addr(t *testing.T) string {
	t.Helper()
	for p := 39500; p < 40000; p++ {
		a := fmt.Sprintf("127.0.0.171:%d", p)
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
	t.Fatal("no free port in 39500-39999 on 127.0.0.171")
	return ""
}

// rt39Connector is transportConnector bound to rt39Addr.
func rt39Connector(t *testing.T) []config.ReceiveConnector {
	t.Helper()
	return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, rt39Addr(t), credsFile(t)))
}
