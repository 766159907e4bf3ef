package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// SMTP-2, RFC 3207: on a connection whose certificate a
// reload took away, STARTTLS is not to be had in any state. Sent before
// EHLO it must not be answered "Send EHLO first" — the EHLO that follows
// offers no STARTTLS (extensionSequence: "an EHLO would not help") — but
// as it is answered after the EHLO (454 4.7.0), or as on a connector
// that never had a certificate.
func TestSMTP2STARTTLSBeforeEHLOAfterCertificateRemoved(t *testing.T) {
	addr := freeAddr(t)
	cert, key, _ := testCert(t)
	withTLS := connectors(t, fmt.Sprintf(`
  - name: default
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit]}
`, addr, cert, key))
	s := startServer(t, &fakeQueue{}, withTLS...)
	open := dial(t, s, "")
	open.expect("220")
	if err := s.Reload(connectors(t, txnYAML(addr, "")), testTable()); err != nil {
		t.Fatal(err)
	}
	got := open.cmd("STARTTLS", "")
	if strings.HasPrefix(got, "503") {
		ehlo := open.cmd("EHLO c", "250")
		t.Errorf("STARTTLS before EHLO on a connection whose certificate was taken away: %q; the EHLO it asks for offers STARTTLS: %v", strings.TrimSpace(got), strings.Contains(ehlo, "STARTTLS"))
	}
}
