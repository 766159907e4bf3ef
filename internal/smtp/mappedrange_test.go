package smtp

import (
	"fmt"
	"testing"
)

// SMTP-2 (sibling of RT-1's mapped subnets): a remote range written
// IPv4-mapped ("::ffff:127.0.0.0/104") is the IPv4 prefix it maps, as
// the connecting address is unmapped: a connection from 127.0.0.1 gets
// the connector, as with "127.0.0.0/8".
func TestSMTP2MappedRemoteRangeMatches(t *testing.T) {
	addr := freeAddr(t)
	conf := fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["::ffff:127.0.0.0/104"]
    permissions: {anonymous: [submit]}
`, addr)
	s := startServer(t, &fakeQueue{}, connectors(t, conf)...)
	d := dial(t, s, "")
	d.expect("220")
}
