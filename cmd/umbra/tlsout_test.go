package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/resolver/dnstest"
)

// tlsSink is an MX host that records whether each message came over TLS.
type tlsSink struct {
	mu  sync.Mutex
	got []bool
}

type tlsSinkSession struct {
	s *tlsSink
	c *gosmtp.Conn
}

func (s *tlsSinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *tlsSinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *tlsSinkSession) Reset()                                 {}
func (s *tlsSinkSession) Logout() error                          { return nil }
func (s *tlsSinkSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	_, on := s.c.TLSConnectionState()
	s.s.mu.Lock()
	s.s.got = append(s.s.got, on)
	s.s.mu.Unlock()
	return nil
}

func (s *tlsSink) received() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.got...)
}

func selfSignedCert(t *testing.T, name string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// writeCertFiles writes cert (an ECDSA key's) as dir/cert.pem and its
// key as dir/key.pem, and returns their paths.
func writeCertFiles(t testing.TB, dir string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	kb, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// The daemon delivers to a DANE-protected MX: the MX and TLSA records
// come from a real unbound validating a signed loopback zone
// (dns.servers with dns.trust_ad), the MX presents a certificate no CA
// vouches for but its TLSA record matches; the mail goes over TLS, and
// `umbra route explain` says DANE applies and why.
func TestDaemonDANEDeliveryAndRouteExplain(t *testing.T) {
	cert := selfSignedCert(t, "mx.dane.test")
	spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	mxAddr := freeAddr(t, "127.0.0.41")
	_, port, _ := net.SplitHostPort(mxAddr)
	z := dnstest.StartSigned(t, "127.0.0.40", "dane.test",
		"dane.test. 300 IN MX 10 mx.dane.test.",
		"mx.dane.test. 300 IN A 127.0.0.41",
		"_"+port+"._tcp.mx.dane.test. 300 IN TLSA 3 1 1 "+hex.EncodeToString(spki[:])) // the port the MX listens on (RFC 7672 §2.2.2)
	unbound := dnstest.StartUnbound(t, "127.0.0.42", z)

	sink := startTLSSink(t, mxAddr, "mx.dane.test", func(srv *gosmtp.Server) {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})

	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.43")
	cfgPath := umbraHub(t, dir, listen, "1s", "internet", "port: "+port+"\ntls: opportunistic",
		dnsServers(unbound)+"  trust_ad: true\n"+noMTASTS)
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@umbra.test", []string{"b@dane.test"}, strings.NewReader("Subject: dane\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	deadline := time.Now().Add(20 * time.Second)
	for len(sink.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := sink.received(); len(got) != 1 || !got[0] {
		d.dumpLog()
		t.Fatalf("MX received %v, want one message over TLS", got)
	}

	out, err := exec.Command(umbraBin, "route", "explain", "--socket", filepath.Join(dir, "data", "admin.sock"), "b@dane.test").CombinedOutput()
	if err != nil {
		t.Fatalf("route explain: %v\n%s", err, out)
	}
	for _, want := range []string{"tls policy:  send connector internet, tls: opportunistic", "DNSSEC-validated: true",
		"mx.dane.test: dane — TLS required, certificate must match a TLSA record", "order: DANE",
		"1 TLSA records at _" + port + "._tcp.mx.dane.test (1 usable)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("route explain lacks %q:\n%s", want, out)
		}
	}
}

// Yesterday's TLS-RPT counters, stored in the transport database before
// the daemon starts, become a report mailed at start to the rua of the
// policy domain's _smtp._tls record, through the queue like any mail.
func TestDaemonSendsTLSReport(t *testing.T) {
	rptAddr := freeAddr(t, "127.0.0.51")
	_, port, _ := net.SplitHostPort(rptAddr)
	dns := dnstest.Start(t,
		`_smtp._tls.dest.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:reports@rpt.test"`,
		"rpt.test. 300 IN MX 10 mx.rpt.test.",
		"mx.rpt.test. 300 IN A 127.0.0.51")
	rec := startRecorder(t, rptAddr)

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	yesterday := time.Now().Add(-24 * time.Hour)
	storeTLSResults(t, data, yesterday)

	listen := freeAddr(t, "127.0.0.52")
	cfgPath := tlsrptHub(t, dir, listen, dns.Addr, "transport:\n  retry_schedule: [1s]\n", "port: "+port, "organization: Umbra Test")
	d := startUmbra(t, cfgPath, listen)
	subject := "Report Domain: dest.test Submitter: hub.umbra.test Report-ID: <" + yesterday.UTC().Format(time.DateOnly) + "_dest.test_"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		var body string
		for s, b := range rec.bodies {
			if strings.HasPrefix(s, subject) {
				body = b
			}
		}
		rec.mu.Unlock()
		if body != "" {
			for _, want := range []string{"TLS-Report-Domain: dest.test", "TLS-Report-Submitter: hub.umbra.test",
				`report-type="tlsrpt"`, "application/tlsrpt+gzip"} {
				if !strings.Contains(body, want) {
					t.Errorf("report lacks %q:\n%s", want, body)
				}
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.dumpLog()
	t.Fatalf("no TLS report reached the rua; the recorder saw %v", rec.counts())
}

// A message received with REQUIRETLS (over STARTTLS) for a domain with
// neither DANE nor MTA-STS, through an opportunistic connector: never
// sent; the sender gets a DSN with 5.7.10 (RFC 8689), at once (no policy
// at all is permanent), with the headers only although RET=FULL.
func TestDaemonRequireTLSBounces(t *testing.T) {
	mxAddr := freeAddr(t, "127.0.0.61")
	_, port, _ := net.SplitHostPort(mxAddr)
	dns := dnstest.Start(t, "plain.test. 300 IN MX 10 mx.plain.test.", "mx.plain.test. 300 IN A 127.0.0.61")
	mxCert := selfSignedCert(t, "mx.plain.test")
	sink := startTLSSink(t, mxAddr, "mx.plain.test", func(srv *gosmtp.Server) {
		srv.EnableREQUIRETLS = true
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{mxCert}}
	})

	dir := t.TempDir()
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "hub.umbra.test"))
	data := filepath.Join(dir, "data")
	listen := freeAddr(t, "127.0.0.62")
	cfgPath := umbraHub(t, dir, listen, "1s", "internet", "port: "+port+"\ntls: opportunistic", dnsServers(dns.Addr))
	// Its loopback connector offers STARTTLS.
	editConfig(t, cfgPath, "    remote_ranges: [\"127.0.0.0/8\"]\n",
		fmt.Sprintf("    remote_ranges: [\"127.0.0.0/8\"]\n    tls: {cert_file: %q, key_file: %q}\n", certFile, keyFile))
	d := startUmbra(t, cfgPath, listen)
	c, err := gosmtp.DialStartTLS(listen, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@umbra.test", &gosmtp.MailOptions{RequireTLS: true, Return: gosmtp.DSNReturnFull}); err != nil {
		t.Fatalf("MAIL REQUIRETLS over TLS: %v", err)
	}
	if err := c.Rcpt("b@plain.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: secret\r\n\r\nonly over verified TLS\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var dsn string
		filepath.WalkDir(filepath.Join(data, "maildir"), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), "5.7.10") {
					dsn = string(b)
				}
			}
			return nil
		})
		if dsn != "" {
			if !strings.Contains(dsn, "b@plain.test") {
				t.Errorf("DSN does not name the recipient:\n%s", dsn)
			}
			// RFC 8689 §5: headers only, whatever RET=FULL asked.
			if strings.Contains(dsn, "only over verified TLS") || !strings.Contains(dsn, "text/rfc822-headers") {
				t.Errorf("the DSN of a REQUIRETLS message returns its body:\n%s", dsn)
			}
			if got := sink.received(); len(got) != 0 {
				t.Fatalf("the REQUIRETLS message reached an unverified MX: %v", got)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.dumpLog()
	t.Fatalf("no 5.7.10 DSN in the sender's mailbox; MX received %v", sink.received())
}
