package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SMTP-3, OPS-1 (rt32b F1): a SIGHUP that narrows an open relay's
// remote_ranges away from a session's address while its transaction holds
// an outside recipient relays nothing for it: its end of data is 451
// 4.7.1 naming a recipient that lost its right, and no message is
// accepted (none in the log, none in the queue); a session inside the
// new ranges relays as before.
func TestSMTP3SighupRecipientsAcceptedBeforeNotRelayedAfter(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.143")
	cfg := filepath.Join(dir, "hub.yaml")
	smart := reserveAddr(t, "127.0.0.143")
	write := func(ranges string) {
		t.Helper()
		text := fmt.Sprintf(`server: {name: hub.rightlost.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: [%q], tls: none}
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: [%s]
    permissions: {anonymous: [submit, relay]}
    max_acknowledgement_delay: 0s
`, filepath.Join(dir, "data"), smart, listen, ranges)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`"127.0.0.0/8"`)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	moved := rawDialFrom(t, "127.0.0.144", listen)
	moved.cmd("EHLO client.example", "250")
	moved.cmd("MAIL FROM:<a@ext.example>", "250")
	moved.cmd("RCPT TO:<victim@remote.example>", "250")
	moved.cmd("RCPT TO:<alice@example.test>", "250")
	kept := rawDialFrom(t, "127.0.0.145", listen)
	kept.cmd("EHLO client.example", "250")
	kept.cmd("MAIL FROM:<a@ext.example>", "250")
	kept.cmd("RCPT TO:<ok@remote.example>", "250")

	reloadDaemon(t, d, func() { write(`"127.0.0.145/32"`) })
	// Judged at DATA, before the body (front33): no 354.
	if r := moved.cmd("DATA", ""); !strings.HasPrefix(r[len(r)-1], "451 4.7.1 Recipient <") {
		t.Errorf("DATA of a transaction whose recipients lost their right by the SIGHUP: %v (want 451 4.7.1)", r)
	}
	kept.cmd("DATA", "354")
	kept.cmd("Subject: inside the new ranges\r\n\r\nx\r\n.", "250")
	b, _ := os.ReadFile(d.log)
	if n := strings.Count(string(b), "msg=\"message accepted\""); n != 1 {
		t.Errorf("%d messages accepted, want 1 (the session inside the new ranges):\n%s", n, b)
	}
}
