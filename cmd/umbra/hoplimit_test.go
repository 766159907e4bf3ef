package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hopPair is an edge and a hub with the default max_hop_count (60): the
// edge takes mail for umbra.test and loop.test from anyone and relays
// it to the hub, logging in there as the server account "edge"; the hub
// keeps umbra.test in its maildir and sends loop.test back to the edge
// (logging in as "hub"): a loop inside the organisation. Both send
// everything else (DSNs) to the recorder at sink.
func hopPair(t *testing.T) (edge, edgeCfg, hub, hubCfg, hubDir string, rec *recorder) {
	dir := t.TempDir()
	edge, hub, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), reserveAddr(t, "127.0.0.1")
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "umbra.test"))
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds, pw := filepath.Join(dir, "credentials"), filepath.Join(dir, "pw")
	os.WriteFile(creds, []byte("edge:"+string(hash)+":server\nhub:"+string(hash)+":server\n"), 0o600)
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	server := func(name, role, listen, domains, peerDomains, peer, login, tail string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o700)
		return writeConfig(t, d, fmt.Sprintf(`server:
  name: %s.umbra.test
  role: %s
  data_dir: %s
  metrics_listen: ""
transport:
  retry_schedule: [1h]
accepted_domains:
%sreceive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions:
      anonymous: [submit]
      servers: [submit, relay, accept-xshadow]
    max_acknowledgement_delay: 0s
send_connectors:
  - name: to-peer
    address_spaces: [%s]
    smart_hosts: [%q]
    tls: required
    auth: {username: %s, password_file: %q}
  - name: out
    address_spaces: [{domain: "*", cost: 5}]
    smart_hosts: [%q]
    tls: none
%s`, name, role, filepath.Join(d, "data"), domains, listen, certFile, keyFile, creds, peerDomains, peer, login, pw, sink, tail))
	}
	hubDir = filepath.Join(dir, "hub")
	hubCfg = server("hub", "hub", hub,
		"  - {domain: umbra.test, type: authoritative, recipient_validation: off}\n  - {domain: loop.test, type: internal_relay, recipient_validation: off}\n",
		`{domain: loop.test, cost: 1}`, edge, "hub", "mailbox:\n  maildir: maildir\n")
	edgeCfg = server("edge", "edge", edge,
		"  - {domain: umbra.test, type: internal_relay, recipient_validation: off}\n  - {domain: loop.test, type: internal_relay, recipient_validation: off}\n",
		`{domain: umbra.test, cost: 1}, {domain: loop.test, cost: 1}`, hub, "edge", "")
	return edge, edgeCfg, hub, hubCfg, hubDir, startRecorder(t, sink)
}

// rt44 M1: two umbra servers on one path never disagree on the hop
// count so that one takes what the next refuses. An outside client's
// message at the edge with 59 Received fields (60 with the edge's: the
// old boundary, relayed and then refused by the hub, a DSN to the forged
// sender) and one with 50 (51 with the edge's) are refused at the edge at
// SMTP time, 554 5.4.6: nothing is queued, nothing bounced. One with 49
// (50: max_hop_count less the 10 hops the organisation keeps) is taken,
// relayed and delivered by the hub. A loop inside the organisation (the
// hub sends loop.test back to the edge) is still caught, by the relay
// check, with one DSN.
func TestHopCountAgreesAcrossHops(t *testing.T) {
	edge, edgeCfg, hub, hubCfg, hubDir, rec := hopPair(t)
	h := startUmbra(t, hubCfg, hub)
	e := startUmbra(t, edgeCfg, edge)
	received := func(n int) string {
		return strings.Repeat("Received: from relay.ext.test by mx.ext.test; Wed, 2 Dec 2026 10:00:00 +0000\r\n", n)
	}
	send := func(n int, rcpt, subject, want string) {
		t.Helper()
		c := rawDial(t, edge)
		c.cmd("EHLO client.ext.test", "250")
		c.cmd("MAIL FROM:<victim@ext.test>", "250")
		c.cmd("RCPT TO:<"+rcpt+"> NOTIFY=FAILURE", "250")
		c.cmd("DATA", "354")
		c.cmd(received(n)+"Subject: "+subject+"\r\n\r\nbody\r\n.", want)
		c.cmd("QUIT", "221")
	}
	send(59, "alice@umbra.test", "hop59", "554 5.4.6")
	send(50, "alice@umbra.test", "hop50", "554 5.4.6")
	send(49, "alice@umbra.test", "hop49", "250")
	maildir := filepath.Join(hubDir, "data", "maildir", "umbra.test", "alice", "new", "*")
	waitCond(t, "the hub's delivery of hop49", 20*time.Second, func() bool {
		f, _ := filepath.Glob(maildir)
		return len(f) == 1
	})
	f, _ := filepath.Glob(maildir)
	b, _ := os.ReadFile(f[0])
	if !strings.Contains(string(b), "Subject: hop49") || strings.Count(string(b), "\r\nReceived: ") != 51 {
		e.dumpLog()
		t.Fatalf("alice's message (want hop49 with 51 Received fields):\n%.600s", b)
	}

	// The loop inside the organisation: edge -> hub -> edge -> ...
	// until a relay would hand the next hop more than 60.
	send(5, "x@loop.test", "looping", "250")
	waitCond(t, "the loop's DSN", 60*time.Second, func() bool { return len(rec.counts()) > 0 })
	time.Sleep(time.Second) // a second DSN would arrive meanwhile
	var dsn string
	for s, n := range rec.counts() {
		if n != 1 || !strings.Contains(rec.bodies[s], "looping") {
			t.Errorf("the sink got %q %d times", s, n)
		}
		dsn = rec.bodies[s]
	}
	if !strings.Contains(dsn, "Status: 5.4.6") || !strings.Contains(dsn, "x@loop.test") {
		h.dumpLog()
		t.Errorf("the loop's DSN:\n%.2000s", dsn)
	}
	e.dumpLogIfFailed()
	h.dumpLogIfFailed()
}
