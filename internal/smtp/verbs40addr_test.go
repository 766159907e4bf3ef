package smtp

import (
	"fmt"
	"net"
	"testing"

	"umbra/internal/config"
)

// verbs40Addr is a free address for this lane's in-process listeners:
// 127.0.0.128, a port in 40500-40999.
func verbs40Addr(t *testing.T) string {
	t.Helper()
	for p := 40500; p < 41000; p++ {
		a := fmt.Sprintf("127.0.0.128:%d", p)
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
	t.Fatal("no free port in 40500-40999 on 127.0.0.128")
	return ""
}

// verbs40Connector is transportConnector bound to verbs40Addr.
func verbs40Connector(t *testing.T) []config.ReceiveConnector {
	t.Helper()
	return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
`, verbs40Addr(t), credsFile(t)))
}
