package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SMTP-3, OPS-1 (rt31b F1, R1): by a real SIGHUP. A connector with
// anonymous [submit, relay] on 127.0.0.0/8 narrowed to one address
// leaves the sessions open from the other addresses no relay — one that
// greeted before the reload, and the transaction open at it —, while a
// session from the address kept relays; then the connector renamed with
// relay taken away leaves that session no relay either, though its old
// connector's permissions had it.
func TestSMTP3SighupNarrowedOrRenamedConnectorTakesRelay(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.170")
	cfg := filepath.Join(dir, "hub.yaml")
	smart := reserveAddr(t, "127.0.0.170")
	write := func(name, ranges, rights string) {
		t.Helper()
		text := fmt.Sprintf(`server: {name: hub.narrow.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: [%q], tls: none}
receive_connectors:
  - name: %s
    bindings: [%q]
    remote_ranges: [%s]
    permissions: {anonymous: [%s]}
    max_acknowledgement_delay: 0s
`, filepath.Join(dir, "data"), smart, name, listen, ranges, rights)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("in", `"127.0.0.0/8"`, "submit, relay")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	greeted := rawDialFrom(t, "127.0.0.171", listen)
	greeted.cmd("EHLO client.example", "250")
	inTxn := rawDialFrom(t, "127.0.0.172", listen)
	inTxn.cmd("EHLO client.example", "250")
	inTxn.cmd("MAIL FROM:<a@ext.example>", "250")
	inTxn.cmd("RCPT TO:<before@remote.example>", "250")
	kept := rawDialFrom(t, "127.0.0.175", listen)
	kept.cmd("EHLO client.example", "250")

	reloadDaemon(t, d, func() { write("in", `"127.0.0.175/32"`, "submit, relay") })
	greeted.cmd("MAIL FROM:<a@ext.example>", "530 5.7.1")
	greeted.cmd("RCPT TO:<victim@remote.example>", "503")
	inTxn.cmd("RCPT TO:<victim@remote.example>", "550 5.7.1")
	kept.cmd("MAIL FROM:<a@ext.example>", "250")
	kept.cmd("RCPT TO:<ok@remote.example>", "250")
	kept.cmd("RSET", "250")

	reloadDaemon(t, d, func() { write("inX", `"127.0.0.0/8"`, "submit") })
	kept.cmd("MAIL FROM:<a@ext.example>", "250")
	kept.cmd("RCPT TO:<victim@remote.example>", "550 5.7.1")
	kept.cmd("RCPT TO:<alice@example.test>", "250")

	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "session outside its connector's configuration now in force") {
		t.Errorf("no log line for the sessions outside their connector's configuration")
	}
}
