package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// SMTP-2, SMTP-3, OPS-1: by a real SIGHUP. A reload narrows connector
// in away from a session's address and gives the address to secure,
// which has tls.required: the session's MAIL gets the reply a new
// connection from its address gets there (530 5.7.0 Must issue a
// STARTTLS command first, not 530 5.7.1), and after STARTTLS on the
// same connection it relays, as a new connection there does after
// STARTTLS — both connectors grant anonymous relay.
func TestSMTP2SighupMovedSessionMeetsTLSRequiredOfConnectorAtAddress(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	smart := reserveAddr(t, "127.0.0.1")
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "hub.atreq.test"))
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(inRanges, extra string) {
		t.Helper()
		text := fmt.Sprintf(`server: {name: hub.atreq.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], smart_hosts: [%q], tls: none}
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: [%s]
    tls: {cert_file: %q, key_file: %q}
    permissions: {anonymous: [submit, relay]}
    max_acknowledgement_delay: 0s
%s`, filepath.Join(dir, "data"), smart, listen, inRanges, certFile, keyFile, extra)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`"127.0.0.0/8"`, "")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	moved := rawDialFrom(t, "127.0.0.147", listen)
	moved.cmd("EHLO client.example", "250")

	reloadDaemon(t, d, func() {
		write(`"127.0.0.149/32"`, fmt.Sprintf(`  - name: secure
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q, required: true}
    permissions: {anonymous: [submit, relay]}
    max_acknowledgement_delay: 0s
`, listen, certFile, keyFile))
	})
	fresh := rawDialFrom(t, "127.0.0.148", listen)
	fresh.cmd("EHLO client.example", "250")
	want := fresh.cmd("MAIL FROM:<a@ext.example>", "530")
	if got := moved.cmd("MAIL FROM:<a@ext.example>", "530"); got[len(got)-1] != want[len(want)-1] {
		t.Errorf("moved session's MAIL: %q; a new connection from its address: %q", got, want)
	}
	for _, s := range []*rawSession{fresh, moved} {
		s.cmd("STARTTLS", "220")
		tc := tls.Client(s.c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		s.c, s.r = tc, bufio.NewReader(tc)
		s.cmd("EHLO client.example", "250")
		s.cmd("MAIL FROM:<a@ext.example>", "250")
		s.cmd("RCPT TO:<x@remote.example>", "250")
	}
}
