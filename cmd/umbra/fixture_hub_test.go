package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Single servers of a test, each written as dir/umbra.yaml.

// umbraHub writes the configuration of hub.umbra.test and returns its
// path: it keeps the mail for umbra.test (any local part) in its
// maildir, takes mail from loopback at listen (anonymous submit and
// relay, acknowledged at once), retries on the schedule retry ("1h":
// one attempt in a test's time) and sends everything else through the
// send connector connector, whose further lines (smart_hosts, port,
// tls, one a line) are send. tail (dns:, outbound_tls:, …) is added as
// it is.
func umbraHub(t testing.TB, dir, listen, retry, connector, send, tail string) string {
	t.Helper()
	return writeConfig(t, dir, umbraTestHub(dir, "transport:\n  retry_schedule: ["+retry+"]\n", listen, "submit, relay",
		"max_acknowledgement_delay: 0s", connector, send, tail))
}

// tlsrptHub writes the configuration of hub.umbra.test that reports its
// TLS results (TLS-RPT, from tlsrpt@umbra.test, the further tls_rpt
// lines rpt) and returns its path: it takes mail for umbra.test from
// loopback at listen (anonymous submit alone) and sends everything else
// through connector "internet" (further lines send), asking the DNS
// server at dnsAddr. transport is its whole transport section, or "".
func tlsrptHub(t testing.TB, dir, listen, dnsAddr, transport, send, rpt string) string {
	t.Helper()
	return writeConfig(t, dir, umbraTestHub(dir, transport, listen, "submit", "", "internet", send,
		dnsServers(dnsAddr)+"outbound_tls:\n  tls_rpt:\n    from: tlsrpt@umbra.test\n"+indented("    ", rpt)))
}

// umbraTestHub is the configuration text of hub.umbra.test, its data
// under dir: transport is its whole transport section, or ""; it keeps
// the mail for umbra.test (any local part) in its maildir, takes mail
// from loopback at listen with the anonymous permissions anon (and the
// further connector lines receive), and sends everything else through
// the send connector connector (further lines send). tail comes before
// the mailbox section.
func umbraTestHub(dir, transport, listen, anon, receive, connector, send, tail string) string {
	return fmt.Sprintf(`server:
  name: hub.umbra.test
  data_dir: %s
  metrics_listen: ""
%saccepted_domains:
  - domain: umbra.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: loopback
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [%s]
%ssend_connectors:
  - name: %s
    address_spaces: [{domain: "*", cost: 1}]
%s%smailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), transport, listen, anon, indented("    ", receive), connector, indented("    ", send), tail)
}

// indented is text (lines) with each line after prefix, or "" for "".
func indented(prefix, text string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if l != "" {
			b.WriteString(prefix + l + "\n")
		}
	}
	return b.String()
}

// dnsServers is the dns section of a configuration that asks the DNS
// server at addr alone.
func dnsServers(addr string) string { return fmt.Sprintf("dns:\n  servers: [%q]\n", addr) }

// noMTASTS is the outbound_tls section of a daemon that looks up no
// MTA-STS policies (a test's DNS server has none to give).
const noMTASTS = "outbound_tls:\n  mta_sts: false\n"

// dmarcMX writes the configuration of mx.e2e.test in dir and returns
// its path and listen address: its connector "internet" takes mail for
// example.test (any local part, into the maildir) from loopback and
// checks it with the internet profile of message authentication, asking
// the DNS server at dnsAddr (one attempt, 1 s).
func dmarcMX(t testing.TB, dir, dnsAddr string) (path, listen string) {
	t.Helper()
	listen = freeAddr(t, "127.0.0.1")
	path = writeConfig(t, dir, fmt.Sprintf(`server:
  name: mx.e2e.test
  data_dir: %s
  metrics_listen: ""
accepted_domains:
  - domain: example.test
    type: authoritative
    recipient_validation: off
receive_connectors:
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit]
    max_acknowledgement_delay: 0s
    message_authentication:
      profile: internet
dns:
  servers: [%q]
  timeout: 1s
  attempts: 1
mailbox:
  maildir: maildir
`, filepath.Join(dir, "data"), listen, dnsAddr))
	return path, listen
}

// lmtpHub writes the configuration of hub1.example.test in dir and
// returns its path: it takes mail for example.test (any local part: the
// mailbox server refuses unknown users) from loopback at listen, on
// connector "in" (anonymous submit, and the further connector lines),
// and delivers it to the mailbox server mailbox (the inside of the
// mailbox mapping: lmtp, database), retrying every second.
func lmtpHub(t testing.TB, dir, listen, mailbox string, connector ...string) string {
	t.Helper()
	return writeConfig(t, dir, fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1s], retry_jitter: 0.1}
accepted_domains: [{domain: example.test, recipient_validation: off}]
%smailbox: {%s}
`, filepath.Join(dir, "data"), submitConnector("in", listen, connector...), mailbox))
}

// consoleAuthHub starts a hub whose submit connector (at listen, on ip)
// takes PLAIN logins in clear from the credentials file creds, written
// with accounts, and whose web console (also on ip) has a self-signed
// certificate, certFile; alice (alice-pw, one of the accounts) is
// checked to log in before the test goes on.
func consoleAuthHub(t *testing.T, ip, accounts string) (d *daemon, listen, creds, certFile string) {
	t.Helper()
	dir := t.TempDir()
	listen = freeAddr(t, ip)
	creds = filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte(accounts), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.revoke.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), freeAddr(t, ip), certFile, keyFile, submitConnector("in", listen,
		`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if r := authPlain(t, listen, "alice", "alice-pw"); !strings.HasPrefix(r, "235") {
		t.Fatalf("alice before the revocation: %q", r)
	}
	return d, listen, creds, certFile
}

// waitReloadOutcome waits (10 s at most) until d's log says how the
// reload ended: failed, or configuration reloaded.
func waitReloadOutcome(t *testing.T, d *daemon) {
	t.Helper()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "reload failed") || strings.Contains(string(b), "msg=\"configuration reloaded\"")
	})
}

// logLinesWith is the lines of d's log that contain word.
func logLinesWith(d *daemon, word string) []string {
	b, _ := os.ReadFile(d.log)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, word) {
			lines = append(lines, l)
		}
	}
	return lines
}
