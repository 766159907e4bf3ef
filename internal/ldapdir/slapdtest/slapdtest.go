// Package slapdtest runs a real OpenLDAP slapd on a loopback address for
// tests: a generated slapd.conf (mdb backend) in t.TempDir(), a
// directory loaded with slapadd, stopped in t.Cleanup. A test skips when
// slapd is not installed, unless CI is set (then it fails).
package slapdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// Binaries.
var (
	Slapd   = "/usr/sbin/slapd"
	Slapadd = "/usr/sbin/slapadd"
)

// Suffix, RootDN and RootPassword of every test directory.
const (
	Suffix       = "dc=example,dc=org"
	RootDN       = "cn=admin,dc=example,dc=org"
	RootPassword = "root-secret"
)

// Server is one slapd.
type Server struct {
	t    testing.TB
	dir  string
	conf string
	addr string
	URL  string // ldap://127.0.0.x:port
	// LDAPSURL (ldaps://127.0.0.x:port) and CAPEM, the certificate of the
	// CA that signed slapd's, when started by StartTLS.
	LDAPSURL  string
	CAPEM     []byte
	ldapsAddr string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *bytes.Buffer
}

// Need skips the test when slapd is missing and CI is unset.
func Need(t testing.TB) {
	t.Helper()
	for _, b := range []string{Slapd, Slapadd} {
		if _, err := os.Stat(b); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI: %v", b, err)
			}
			t.Skipf("%s not installed", b)
		}
	}
}

// SSHA is an RFC 2307 {SSHA} password value, as slappasswd makes.
func SSHA(password string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	h := sha1.Sum(append([]byte(password), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h[:], salt...))
}

// Start writes the configuration (with the extra schema files given),
// loads ldif (entries below Suffix; the suffix entry itself is added
// here) and starts slapd on ip. Access: userPassword only for binds;
// everything else readable by the entry cn=umbra,<Suffix> and the root.
func Start(t testing.TB, ip string, schemas []string, ldif string) *Server {
	t.Helper()
	return start(t, ip, schemas, ldif, false)
}

// HostName is a name the certificate of StartTLS is also for: a test
// gives it its address where umbra must find it by name (no resolver
// of this machine knows it).
const HostName = "ldap.umbra-only.test"

// StartTLS is Start with a certificate for ip (signed by a CA made
// here, Server.CAPEM) for StartTLS on URL and TLS on LDAPSURL.
func StartTLS(t testing.TB, ip string, schemas []string, ldif string) *Server {
	t.Helper()
	return start(t, ip, schemas, ldif, true)
}

func start(t testing.TB, ip string, schemas []string, ldif string, withTLS bool) *Server {
	t.Helper()
	Need(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	var inc strings.Builder
	for _, s := range append([]string{"/etc/ldap/schema/core.schema", "/etc/ldap/schema/cosine.schema",
		"/etc/ldap/schema/inetorgperson.schema"}, schemas...) {
		abs, err := filepath.Abs(s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&inc, "include %s\n", abs)
	}
	conf := filepath.Join(dir, "slapd.conf")
	text := inc.String() + fmt.Sprintf(`pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix %[2]q
rootdn %[3]q
rootpw %[4]s
directory %[1]s/db
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=umbra,%[2]s" read by * none
`, dir, Suffix, RootDN, RootPassword)
	var caPEM []byte
	if withTLS {
		var err error
		caPEM, err = writeCertificates(dir, ip)
		if err != nil {
			t.Fatal(err)
		}
		text = fmt.Sprintf("TLSCACertificateFile %[1]s/ca.pem\nTLSCertificateFile %[1]s/cert.pem\nTLSCertificateKeyFile %[1]s/key.pem\n", dir) + text
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	data := fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n%s", Suffix, ldif)
	ldifPath := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldifPath, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(Slapadd, "-f", conf, "-l", ldifPath).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	s := &Server{t: t, dir: dir, conf: conf, addr: testsupport.FreeAddr(t, ip), CAPEM: caPEM}
	s.URL = "ldap://" + s.addr
	if withTLS {
		s.ldapsAddr = testsupport.FreeAddr(t, ip)
		s.LDAPSURL = "ldaps://" + s.ldapsAddr
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts slapd (again) on the same address and waits until it
// accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.log = &bytes.Buffer{}
	// -d 0: stay in the foreground (so that Stop can kill it) and log
	// nothing but errors.
	urls := s.URL + "/"
	if s.LDAPSURL != "" {
		urls += " " + s.LDAPSURL + "/"
	}
	cmd := exec.Command(Slapd, "-f", s.conf, "-h", urls, "-d", "0")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("slapd: %v", err)
	}
	s.cmd = cmd
	for i := 0; i < 200; i++ { // at most 10 s
		c, err := net.DialTimeout("tcp", s.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("slapd did not start on %s:\n%s", s.addr, s.log.String())
}

// writeCertificates makes a CA and a certificate for ip signed by it
// (ca.pem, cert.pem, key.pem in dir) and returns the CA's PEM.
func writeCertificates(dir, ip string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "umbra test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(ip)},
		DNSNames: []string{HostName}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, data := range map[string][]byte{"ca.pem": caPEM,
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

// Stop kills slapd and waits for it to exit; the port is closed when
// Stop returns.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	os.Remove(filepath.Join(s.dir, "slapd.pid"))
}
