package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An edge without a topology: its connector to the hubs carries the
// organisation's own (internal_relay) domain, and counts as leaving the
// organisation (nothing else says where it ends). config check warns,
// at that connector's lines:
//
//   - with dkim keys or arc on, that the mail it hands to the hubs is
//     DKIM-signed and ARC-sealed as mail leaving (rt42-edge F2); not
//     for a send_xshadow connector, which stays inside;
//
//   - with REQUIRETLS offered (a receive connector with a certificate)
//     and the connector not tls: verify, that the DSN of a failed
//     REQUIRETLS message to a sender of that domain could not be
//     delivered through it (rt42-edge F4).
//
//   - without send_xshadow, that the mail it hands to the hubs carries
//     no organisation id: a message handed on again after a crash is
//     delivered twice (rt45 front F1).
//
// None is warned about for the connector to the internet, nor when
// the condition is gone.
func TestConfigCheckWarnsOfEdgeConnectorToOwnServers(t *testing.T) {
	dir := t.TempDir()
	keyFile, _ := keygen(t, dir, "corp.test", "s1")
	arcKey, _ := keygen(t, dir, "corp.test", "arc1", "--algorithm", "rsa", "--bits", "2048")
	certFile, tlsKey := writeCertFiles(t, dir, certNaming(t, "edge.corp.test"))
	text := `server:
  name: edge.corp.test
  role: edge
  data_dir: ` + filepath.Join(dir, "data") + `
  metrics_listen: ""
accepted_domains:
  - domain: corp.test
    type: internal_relay
    recipient_validation: off
  - domain: partner.test
    type: external_relay
    recipient_validation: off
receive_connectors:
  - name: internet
    bindings: ["127.0.0.137:8030"]
    permissions: {anonymous: [submit]}
    tls:
      cert_file: ` + certFile + `
      key_file: ` + tlsKey + `
send_connectors:
  - name: to-hubs
    address_spaces: [{domain: corp.test, cost: 1}]
    smart_hosts: ["127.0.0.137:8031"]
    tls: none
  - name: outside
    address_spaces: [{domain: "*", cost: 1}]
dkim:
  keys:
    - {domain: corp.test, selector: s1, key_file: ` + keyFile + `}
  arc:
    domain: corp.test
    selector: arc1
    key_file: ` + arcKey + `
`
	cfg := filepath.Join(dir, "edge.yaml")
	check := func(text string) string {
		t.Helper()
		os.WriteFile(cfg, []byte(text), 0o600)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, umbraBin, "config", "check", cfg).CombinedOutput()
		if err != nil {
			t.Fatalf("config check: %v\n%s", err, out)
		}
		return string(out)
	}
	lineOf := func(text, s string) string {
		return strconv.Itoa(1 + strings.Count(text[:strings.Index(text, s)], "\n"))
	}
	signing := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + lineOf(text, "  - name: to-hubs") +
		`: warning: send connector "to-hubs" carries the organisation's own domain corp\.test, and without a topology a send connector counts as leaving the organisation: ` +
		`the mail it hands on is DKIM-signed \(mail that originated inside\) and ARC-sealed \(mail this server authenticated\)`)
	dsn := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + lineOf(text, "    tls: none") +
		`: warning: send connector "to-hubs" carries the organisation's own domain corp\.test with tls: none, not verify, while receive connector "internet" offers REQUIRETLS`)

	// rt45 front F1: without send_xshadow the connector hands the hubs
	// no organisation id, and a message handed on again after a crash
	// is delivered twice.
	orgID := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + lineOf(text, "  - name: to-hubs") +
		`: warning: send connector "to-hubs" carries the organisation's own domain corp\.test without send_xshadow, and without a topology a send connector counts as leaving the organisation: ` +
		`the mail it hands on carries no organisation id`)

	out := check(text)
	if !signing.MatchString(out) || !dsn.MatchString(out) || !orgID.MatchString(out) {
		t.Fatalf("want the three warnings:\n%q\n%q\n%q\n%s", signing, dsn, orgID, out)
	}
	if strings.Contains(out, `send connector "outside"`) {
		t.Errorf("the connector to the internet warned of:\n%s", out)
	}

	// tls: verify to the hubs: the DSN can go; a send_xshadow connector
	// stays inside, so nothing is signed for it.
	fixed := strings.Replace(text, "    tls: none\n", "    tls: verify\n    send_xshadow: true\n", 1)
	if out := check(fixed); strings.Contains(out, `send connector "to-hubs"`) {
		t.Errorf("warned with tls: verify and send_xshadow:\n%s", out)
	}
	// No signing and no certificate: neither condition holds; the
	// organisation id is still not carried.
	plain := text[:strings.Index(text, "dkim:\n")]
	plain = plain[:strings.Index(plain, "    tls:\n      cert_file")] + plain[strings.Index(plain, "send_connectors:"):]
	plainOrgID := regexp.MustCompile(regexp.QuoteMeta(cfg) + `:` + lineOf(plain, "  - name: to-hubs") + `: warning: send connector "to-hubs" carries the organisation's own domain corp\.test without send_xshadow`)
	if out := check(plain); strings.Count(out, `send connector "to-hubs"`) != 1 || !plainOrgID.MatchString(out) {
		t.Errorf("want only the organisation id's warning without signing or REQUIRETLS:\n%s", out)
	}
}
