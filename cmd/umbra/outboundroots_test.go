package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// testCA is a private certificate authority made for one test (an
// organisation's CA): no system root store holds it.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t testing.TB, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "umbra test organisation CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(dir, "org-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue is a server and client certificate of the CA for the host
// names and IP addresses given.
func (ca *testCA) issue(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// noTestRootsInEnvironment makes sure that the daemons of a test find
// the CA only where the configuration names it: not through the
// variables that choose the system roots.
func noTestRootsInEnvironment(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "no-roots.pem"))
	t.Setenv("SSL_CERT_DIR", t.TempDir())
}

// rt21d M4 (SMTP-4, TLS-1): a `tls: verify` send connector verifies its smart host
// against the system roots and outbound_tls.ca_file. A smart host whose
// certificate comes from the organisation's CA defers the mail with
// "certificate not trusted" while no setting names that CA, and takes
// it once outbound_tls.ca_file does (no SSL_CERT_FILE needed).
func TestVerifyConnectorTrustsOutboundCAFile(t *testing.T) {
	noTestRootsInEnvironment(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	sinkAddr := freeAddr(t, "127.0.0.181")
	sinkIP, _, _ := net.SplitHostPort(sinkAddr)
	sinkCert := ca.issue(t, sinkIP)
	sink := startTLSSink(t, sinkAddr, "relay.roots.test", func(srv *gosmtp.Server) {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{sinkCert}}
	})
	listen := freeAddr(t, "127.0.0.180")
	cfgPath := umbraHub(t, dir, listen, "1s", "relay", fmt.Sprintf("smart_hosts: [%q]\ntls: verify", sinkAddr), noMTASTS)

	d := startUmbra(t, cfgPath, listen)
	d.dumpLogIfFailed()
	if r := rawSend(t, listen, "a@umbra.test", []string{"b@far.test"}, "Subject: verified\r\n\r\nhello\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	waitCond(t, "the deferral for the CA no setting names", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "certificate not trusted")
	})
	if got := sink.received(); len(got) != 0 {
		t.Fatalf("delivered to a smart host whose certificate did not verify: %v", got)
	}
	d.kill()

	editConfig(t, cfgPath, "outbound_tls:\n", fmt.Sprintf("outbound_tls:\n  ca_file: %q\n", ca.file))
	d = startUmbra(t, cfgPath, listen)
	d.dumpLogIfFailed()
	waitCond(t, "delivery over TLS verified with outbound_tls.ca_file", 30*time.Second, func() bool { return len(sink.received()) == 1 })
	if got := sink.received(); !got[0] {
		t.Fatalf("delivered without TLS: %v", got)
	}
}

// rt21d M4 (TLS-1): a REQUIRETLS message is relayed between hubs only over TLS
// whose certificate verifies for the next hub's topology name. With the
// hubs' certificates from the organisation's CA it is deferred while
// hub-a trusts only the system roots, and relayed once hub-a trusts the
// CA: named by its receive connector's tls.client_ca_file (the CA that
// already makes a client certificate a transport server's), or by
// outbound_tls.ca_file.
func TestRequireTLSBetweenHubsTrustsTheOrganisationCA(t *testing.T) {
	noTestRootsInEnvironment(t)
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	a, b := freeAddr(t, "127.0.0.180"), freeAddr(t, "127.0.0.181")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links: [{name: a-b, sites: [a, b], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: to-b, address_spaces: [{domain: example.test, cost: 1}], source_servers: [hub-b]}
`, a, b)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "accepted_domains: [{domain: example.test, type: internal_relay}]\n")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s",
		"accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\nmailbox: {maildir: maildir}\n")
	tlsLines := map[string]string{}
	for _, h := range []struct{ name, cfg string }{{"hub-a", cfgA}, {"hub-b", cfgB}} {
		cert, key := writeCertFiles(t, filepath.Join(dir, h.name), ca.issue(t, h.name))
		tlsLines[h.name] = fmt.Sprintf("    tls: {cert_file: %q, key_file: %q}\n", cert, key)
		editConfig(t, h.cfg, "    externally_secured: true\n", "    externally_secured: true\n"+tlsLines[h.name])
	}
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()

	send := func(subject string) {
		t.Helper()
		c, err := gosmtp.DialStartTLS(a, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("s@example.org", &gosmtp.MailOptions{RequireTLS: true}); err != nil {
			t.Fatalf("MAIL REQUIRETLS: %v", err)
		}
		if err := c.Rcpt("bob@example.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "Subject: "+subject+"\r\n\r\nonly over verified TLS\r\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	delivered := func() int {
		files, _ := filepath.Glob(filepath.Join(bobMailbox(dir), "*"))
		return len(files)
	}

	// Only the system roots: deferred, never sent in the clear.
	ha := startUmbra(t, cfgA, a)
	send("untrusted")
	waitCond(t, "the REQUIRETLS deferral at hub-a", 30*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Contains(string(b), "REQUIRETLS: no verified TLS to hub-b")
	})
	if n := delivered(); n != 0 {
		ha.dumpLog()
		t.Fatalf("bob has %d messages although hub-b's certificate did not verify", n)
	}
	ha.kill()

	// The organisation's CA, named where hub-a verifies client
	// certificates: trusted for hub-b's server certificate too.
	editConfig(t, cfgA, tlsLines["hub-a"], strings.TrimSuffix(tlsLines["hub-a"], "}\n")+fmt.Sprintf(", client_ca_file: %q}\n", ca.file))
	ha = startUmbra(t, cfgA, a)
	waitCond(t, "the deferred message relayed with the CA of tls.client_ca_file", 30*time.Second, func() bool { return delivered() == 1 })
	ha.kill()

	// The same CA named by outbound_tls.ca_file alone.
	editConfig(t, cfgA, fmt.Sprintf(", client_ca_file: %q}", ca.file), "}")
	appendConfig(t, cfgA, fmt.Sprintf("outbound_tls: {ca_file: %q}\n", ca.file))
	ha = startUmbra(t, cfgA, a)
	send("trusted by ca_file")
	waitCond(t, "the message relayed with outbound_tls.ca_file", 30*time.Second, func() bool { return delivered() == 2 })
	ha.kill()
}

// rt21d M4 (TLS-1, OPS-1): the trust store is read again at a reload, so a CA file
// renewed in place (the same outbound_tls.ca_file path, so no restart is
// named) applies at SIGHUP: a smart host whose certificate the old file
// did not vouch for takes the deferred mail after the reload.
func TestOutboundCAFileRenewedAppliesAtReload(t *testing.T) {
	noTestRootsInEnvironment(t)
	dir := t.TempDir()
	old := newTestCA(t, dir)
	renewedDir := filepath.Join(dir, "renewed")
	os.MkdirAll(renewedDir, 0o700)
	renewed := newTestCA(t, renewedDir)
	sinkAddr := freeAddr(t, "127.0.0.181")
	sinkIP, _, _ := net.SplitHostPort(sinkAddr)
	sinkCert := renewed.issue(t, sinkIP)
	sink := startTLSSink(t, sinkAddr, "relay.roots.test", func(srv *gosmtp.Server) {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{sinkCert}}
	})
	listen := freeAddr(t, "127.0.0.180")
	cfgPath := umbraHub(t, dir, listen, "1s", "relay", fmt.Sprintf("smart_hosts: [%q]\ntls: verify", sinkAddr),
		fmt.Sprintf("outbound_tls:\n  mta_sts: false\n  ca_file: %q\n", old.file))
	d := startUmbra(t, cfgPath, listen)
	d.dumpLogIfFailed()
	if r := rawSend(t, listen, "a@umbra.test", []string{"b@far.test"}, "Subject: renewed\r\n\r\nhello\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA: %s", r)
	}
	waitCond(t, "the deferral under the old CA", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "certificate not trusted")
	})
	pemBytes, err := os.ReadFile(renewed.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old.file, pemBytes, 0o600); err != nil { // renewed in place
		t.Fatal(err)
	}
	d.hup()
	waitCond(t, "delivery with the CA file read again at the reload", 30*time.Second, func() bool { return len(sink.received()) == 1 })
	b, _ := os.ReadFile(d.log)
	if strings.Contains(string(b), "reload failed") || strings.Contains(string(b), "apply only after a restart") {
		t.Errorf("the reload of a CA file renewed in place failed or asked for a restart")
	}
}
