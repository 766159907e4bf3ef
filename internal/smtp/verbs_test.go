package smtp

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/routing"
	"umbra/internal/shadowid"
)

// fakeShadow holds discard notifications per shadow server.
type fakeShadow struct {
	mu       sync.Mutex
	notes    map[string][]string
	answered []string // ShadowAnswered: the peers that completed a query
}

func (f *fakeShadow) ShadowAnswered(server string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answered = append(f.answered, server)
}

func (f *fakeShadow) answeredBy() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.answered...)
}

func (f *fakeShadow) DatabaseID() string { return "db-0123456789abcdef" }

func (f *fakeShadow) Discards(server string, max int) ([]string, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := f.notes[server]
	if len(ids) > max {
		ids = ids[:max]
	}
	ids = append([]string(nil), ids...)
	return ids, func() {
		f.mu.Lock()
		f.notes[server] = f.notes[server][len(ids):]
		f.mu.Unlock()
	}
}

func startShadowServer(t testing.TB, q Queue, sh ShadowVerbs, enabled bool, conns []config.ReceiveConnector) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: q, Shadow: sh, ShadowEnabled: enabled, Log: logUniqueKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s
}

func transportConnector(t testing.TB, extra string) []config.ReceiveConnector {
	return connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit], servers: [submit, relay, accept-xshadow]}
%s`, credsFile(t), extra))
}

// AUTH PLAIN for hub2 (a server account) and alice (a user).
const (
	authHub2  = "AUTH PLAIN AGh1YjIAaHVicGFzcw=="
	authAlice = "AUTH PLAIN AGFsaWNlAHNlY3JldA=="
)

func TestShadowVerbReplies(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1", "s2", "s3"}, "hub3": {"c1"}}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("XSHADOW hub2", "503 5.5.1")    // before EHLO
	d.cmd("XQUERYDISCARD 5", "503 5.5.1") // before XSHADOW
	if ehlo := d.cmd("EHLO hub2.test", "250"); !offersKeyword(ehlo, "XSHADOW") {
		t.Fatalf("XSHADOW not advertised:\n%s", ehlo)
	}
	d.cmd("XSHADOW", "501 5.5.4")
	d.cmd("XSHADOW "+strings.Repeat("h", 256), "501 5.5.4")
	d.cmd("XSHADOW hub2", "550 5.7.1") // not authenticated: not a transport server
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub3", "550 5.7.1") // hub2 may not speak for hub3
	d.cmd("XQUERYDISCARD 5", "503 5.5.1")
	d.cmd("XSHADOW hub2", "250 db-0123456789abcdef")
	d.cmd("XQUERYDISCARD 0", "501 5.5.4")
	d.cmd("XQUERYDISCARD many", "501 5.5.4")
	if got := sh.answeredBy(); len(got) != 0 {
		t.Fatalf("refused queries counted as answered: %v", got)
	}
	if got := d.cmd("XQUERYDISCARD 2", "250 s2"); got != "250-2.0.0 2 discard notifications\n250-s1\n250 s2" {
		t.Fatalf("XQUERYDISCARD reply:\n%s", got)
	}
	// A completed query tells the shadow verbs the peer is alive: a
	// heartbeat this server began to it takes nothing over (rt33 F1).
	if got := sh.answeredBy(); len(got) != 1 || got[0] != "hub2" {
		t.Fatalf("peers that completed a query: %v; want [hub2]", got)
	}
	d.cmd("XQDISCARD 2", "250 s3") // the alias; s1 and s2 were forgotten once the peer spoke again
	d.cmd("XQUERYDISCARD 2", "250 2.0.0 0 discard notifications")
	if len(sh.notes["hub3"]) != 1 {
		t.Fatal("another server's notifications were touched")
	}

	d.cmd("MAIL FROM:<a@example.org> XSHADOW=bad/id", "501 5.5.4")
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=a XSHADOW=b", "501 5.5.4") // a keyword once (RFC 5321 §4.1.2)
	d.cmd("MAIL FROM:<a@example.org> xshadow=a SIZE=1 XSHADOW=a", "501 5.5.4")
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=hub2.msg-42 SIZE=100", "250")
	d.cmd("XSHADOW hub2", "503 5.5.1") // not inside a transaction
	d.cmd("RCPT TO:<x@elsewhere.org>", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: shadowed\r\n\r\nXSHADOW hub9\r\nXQUERYDISCARD 1\r\n.", "250")
	m := q.msgs[0]
	if m.ShadowServer != "hub2" || m.ShadowID != "hub2.msg-42" {
		t.Errorf("shadow fields: %q %q", m.ShadowServer, m.ShadowID)
	}
	if !strings.HasSuffix(string(q.bodies[0]), "\r\nXSHADOW hub9\r\nXQUERYDISCARD 1\r\n") {
		t.Errorf("DATA lines that look like verbs were not passed through:\n%q", q.bodies[0])
	}
}

// SR-15 (issue 19 defect 4): discard notifications are forgotten only
// once the peer provably has them — the reply was written and the peer's
// next command arrived. A session that ends right after the reply (the
// peer may never have read it) leaves them to be sent again.
func TestDiscardsForgottenOnlyWhenPeerSpeaksAgain(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1", "s2", "s3"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, ""))
	open := func() *dialog {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd("XSHADOW hub2", "250")
		return d
	}
	d := open()
	if got := d.cmd("XQUERYDISCARD 2", "250 s2"); !strings.Contains(got, "250-s1") {
		t.Fatalf("first query: %q", got)
	}
	d.conn.Close() // no further command: the peer may not have the reply
	d = open()
	if got := d.cmd("XQUERYDISCARD 2", "250 s2"); !strings.Contains(got, "250-s1") {
		t.Fatalf("notifications of a session that ended after the reply were forgotten: %q", got)
	}
	d.cmd("NOOP", "250") // now it has them
	d.cmd("XQUERYDISCARD 2", "250 s3")
	d.cmd("QUIT", "221") // QUIT proves the last reply arrived too
	sh.mu.Lock()
	left := len(sh.notes["hub2"])
	sh.mu.Unlock()
	for i := 0; i < 2000 && left != 0; i++ { // QUIT's acknowledgement runs as the server reads it
		time.Sleep(time.Millisecond)
		sh.mu.Lock()
		left = len(sh.notes["hub2"])
		sh.mu.Unlock()
	}
	if left != 0 {
		t.Fatalf("%d notifications left after QUIT", left)
	}
}

func TestShadowVerbsRefused(t *testing.T) {
	// Organisation-wide switch off: never offered, whatever the rights.
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{}, false, transportConnector(t, ""))
	d := dial(t, s, "")
	d.expect("220")
	if ehlo := d.cmd("EHLO c", "250"); offersKeyword(ehlo, "XSHADOW") {
		t.Fatalf("XSHADOW offered with the switch off:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "502 5.5.1")                         // not offered: not implemented here (rt17c F6)
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=x1", "555 5.5.4") // an unknown parameter where none is offered (rt24b F3)

	// A user account is not a transport server.
	s = startShadowServer(t, &fakeQueue{}, &fakeShadow{}, true, transportConnector(t, ""))
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd(authAlice, "235")
	d.cmd("XSHADOW alice", "550 5.7.1")

	// An externally secured connector makes every session a transport
	// server, without AUTH.
	s = startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, transportConnector(t, "    externally_secured: true\n"))
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("XSHADOW edge7", "250 db-")
}

func TestBDATPassesThrough(t *testing.T) {
	q := &fakeQueue{}
	s := startServer(t, q, connectors(t, anon)...)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	chunk := "Subject: b\r\n\r\nXSHADOW x\r\nSTARTTLS\r\nDATA\r\n"
	d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
	d.expect("250 2.0.0 Ok: queued")
	d.cmd("NOOP", "250")
	if q.count() != 1 || !strings.HasSuffix(string(q.bodies[0]), chunk) {
		t.Fatalf("BDAT body: %q", q.bodies)
	}
}

func TestSTARTTLSThenXSHADOW(t *testing.T) {
	cert, key, pool := testCert(t)
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"t1"}}}
	conns := connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    tls: {cert_file: %q, key_file: %q, required: true}
    auth: {mechanisms: [PLAIN], credentials_file: %q}
    permissions: {servers: [submit, relay, accept-xshadow]}
`, cert, key, credsFile(t)))
	s := startShadowServer(t, &fakeQueue{}, sh, true, conns)
	d := dial(t, s, "")
	d.expect("220")
	ehlo := d.cmd("EHLO hub2.test", "250")
	if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("before TLS: STARTTLS yes, AUTH no:\n%s", ehlo)
	}
	d.cmd(authHub2, "538 5.7.11")
	d.send("STARTTLS\r\nNOOP\r\n") // pipelined after STARTTLS: refused
	d.expect("503 5.5.1")
	d.expect("250")
	d.startTLS(pool)
	ehlo = d.cmd("EHLO hub2.test", "250")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN") || !offersKeyword(ehlo, "XSHADOW") {
		t.Fatalf("after TLS:\n%s", ehlo)
	}
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250 db-")
	d.cmd("XQUERYDISCARD 10", "250 t1")
}

// FuzzSession feeds arbitrary bytes to a live session: the server must
// never crash or hang, and must still greet the next client.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.c> XSHADOW=q\r\nRCPT TO:<b@example.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nXSHADOW y\r\nXQUERYDISCARD 3\r\nXQDISCARD -1\r\n",
		"EHLO x\r\nXSHADOW y\r\nXQUERYKEPT a-1 0123456789abcdef0123456789abcdef\r\nXQUERYKEPT\r\nXQUERYKEPT a/1\r\nXQUERYKEPT " + strings.Repeat("a-1 ", 101) + "\r\n",
		"EHLO x\r\nXQUERYKEPT a-1\r\nXSHADOW y\r\nXQUERYKEPT a-1\r\n",
		"EHLO x\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\n*\r\n",
	} {
		f.Add([]byte(seed))
	}
	var once sync.Once
	var srv *Server
	f.Fuzz(func(t *testing.T, data []byte) {
		once.Do(func() {
			conns := transportConnector(t, "    externally_secured: true\n    limits: {soft_error_limit: 1000}\n") // no error delay: speed
			s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{},
				Shadow: &fakeShadow{notes: map[string][]string{"y": {"1", "2"}}}, ShadowEnabled: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Listen(); err != nil {
				t.Fatal(err)
			}
			s.Serve()
			srv = s
		})
		c, err := net.Dial("tcp", srv.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
		next, err := net.DialTimeout("tcp", srv.Addrs()[0].String(), time.Second)
		if err != nil {
			t.Fatalf("server gone after %q: %v", data, err)
		}
		next.SetDeadline(time.Now().Add(3 * time.Second))
		n, _ := next.Read(buf)
		next.Close()
		if !strings.HasPrefix(string(buf[:n]), "220") {
			t.Fatalf("no greeting after %q: %q", data, buf[:n])
		}
	})
}

// A "." line after a bare LF is data for go-smtp, so it must be data for
// the verb layer too: what follows is never taken for a command.
func TestDataEndAgreesWithGoSMTP(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"edge7": {"n1"}}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, transportConnector(t, "    externally_secured: true\n"))
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO c", "250")
	d.cmd("XSHADOW edge7", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
	// The bare LF makes the message invalid (554), but only at the real end.
	d.send("Subject: x\r\n\r\nline\n.\r\nXQUERYDISCARD 5\r\n.\r\n")
	d.expect("554 5.6.0")
	d.cmd("NOOP", "250")
	if len(sh.notes["edge7"]) != 1 {
		t.Fatal("a line inside DATA was executed as XQUERYDISCARD")
	}
}

// umbra's client speaks the shadow verbs to umbra's server: XSHADOW after
// AUTH, XSHADOW= on MAIL, XQUERYDISCARD, and go-smtp's own commands keep
// working around them.
func TestClientShadowVerbs(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"a1", "a2", "a3"}}}
	q := &fakeQueue{}
	s := startShadowServer(t, q, sh, true, transportConnector(t, ""))
	nc, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(contextBackground(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Shadow("hub2"); err == nil {
		t.Fatal("XSHADOW accepted before AUTH")
	}
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	db, err := c.Shadow("hub2")
	if err != nil || db != "db-0123456789abcdef" {
		t.Fatalf("Shadow: %q %v", db, err)
	}
	ids, err := c.QueryDiscard(2)
	if err != nil || strings.Join(ids, ",") != "a1,a2" {
		t.Fatalf("QueryDiscard: %v %v", ids, err)
	}
	c.SetShadowID("hub2-m1")
	if err := c.SendMail("a@example.org", []string{"b@elsewhere.org"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if ids, err := c.QueryDiscard(5); err != nil || strings.Join(ids, ",") != "a3" {
		t.Fatalf("QueryDiscard after a transaction: %v %v", ids, err)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("go-smtp lost its place after the raw verbs: %v", err)
	}
	if q.count() != 1 || q.msgs[0].ShadowID != "hub2-m1" || q.msgs[0].ShadowServer != "hub2" {
		t.Fatalf("shadow fields on the primary: %+v", q.msgs)
	}
}

// orgPKI makes an organisation CA and certificates it signs.
func orgPKI(t *testing.T) (caPEM []byte, leaf func(name string) tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(100), Subject: pkix.Name{CommonName: "org CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	serial := int64(200)
	leaf = func(name string) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
			KeyUsage:    x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), leaf, pool
}

// SR-1: a TLS client certificate of the organisation makes the session a
// transport server, which may then speak only for the names it carries.
func TestClientCertificateTransportServer(t *testing.T) {
	caPEM, leaf, _ := orgPKI(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "org-ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	cert, key, serverPool := testCert(t)
	conns := connectors(t, fmt.Sprintf(`
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8", "::1/128"] # relay only from loopback (SMTP-3)
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q, required: true}
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`, cert, key, caFile))
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, conns)

	session := func(clientCert *tls.Certificate) *dialog {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO hub7.test", "250")
		d.cmd("STARTTLS", "220")
		cfg := &tls.Config{RootCAs: serverPool, ServerName: "mx.test"}
		if clientCert != nil {
			cfg.Certificates = []tls.Certificate{*clientCert}
		}
		tc := tls.Client(d.conn, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		d.conn, d.r = tc, bufio.NewReader(tc)
		d.cmd("EHLO hub7.test", "250")
		return d
	}
	c := leaf("hub7.test")
	d := session(&c)
	d.cmd("XSHADOW hub8.test", "550 5.7.1") // not its name
	d.cmd("XSHADOW hub7.test", "250 db-")

	d = session(nil) // TLS without a client certificate: not a transport server
	d.cmd("XSHADOW hub7.test", "550 5.7.1")

	// rt11 F8: with a topology, a certificate naming no transport server
	// of it (a decommissioned server's, a typo) is no transport server's
	// word; one naming a hub of it is.
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub8.test", Role: routing.RoleHub, Site: "s1", Address: "hub8.test:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	d = session(&c)
	d.cmd("XSHADOW hub7.test", "550 5.7.1")
	c8 := leaf("hub8.test")
	d = session(&c8)
	d.cmd("XSHADOW hub8.test", "250 db-")
}

// Scenario A: client submission is not redundant — an authenticated user
// is answered at once, an anonymous sender only with confirmation.
func TestClientSubmissionNotDelayed(t *testing.T) {
	s := startShadowServer(t, &fakeQueue{}, &fakeShadow{notes: map[string][]string{}}, true, transportConnector(t, ""))
	submit := func(auth string) string {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		if auth != "" {
			d.cmd(auth, "235")
		}
		d.cmd("MAIL FROM:<a@example.org>", "250")
		d.cmd("RCPT TO:<b@example.test>", "250")
		d.cmd("DATA", "354")
		return d.cmd("Subject: x\r\n\r\nhi\r\n.", "250")
	}
	if r := submit(authAlice); strings.Contains(r, "confirmed") {
		t.Errorf("client submission waited for confirmation: %q", r)
	}
	if r := submit(""); !strings.Contains(r, "confirmed by the next hop") {
		t.Errorf("an anonymous sender was not given delayed acknowledgement: %q", r)
	}
}

// The client side of the shadow verbs reads replies from a peer: any
// bytes give lines or an error, never a panic, never more than the reply
// (the rest belongs to go-smtp), never an id that is not one.
func FuzzShadowReplies(f *testing.F) {
	for _, s := range []string{
		"250 0123456789abcdef0123456789abcdef\r\n",
		"250-2.0.0 2 discard notifications\r\n250-a.1\r\n250 b_2\r\nNEXT",
		"250 2.0.0 0 discard notifications\r\n",
		"550 5.7.1 not permitted\r\n",
		"250-2.0.0 1 of 3 missing\r\n250 0000000000000001-abcdef01\r\n", "250 2.0.0 0 of 3 missing\r\n",
		"250-\r\n250 \r\n", "25", "2500 x\r\n", "250 x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		lines, err := readReply(r)
		if err != nil {
			return
		}
		if consumed := len(b) - r.Len(); consumed > 0 && b[consumed-1] != '\n' {
			t.Fatalf("reply ended inside a line: %q", b[:consumed])
		}
		if id, err := shadowDatabaseID(lines); err == nil && (id == "" || strings.ContainsAny(id, " \r\n\x00")) {
			t.Fatalf("database id %q", id)
		}
		for _, id := range discardIDs(lines) {
			if !shadowid.Valid(id) {
				t.Fatalf("discard id %q", id)
			}
		}
	})
}

// AppendDotStuffed writes exactly what net/textproto's DotWriter (go-smtp's
// DATA writer) writes for the body with bare CR and LF made CRLF, for any
// bytes, and never a bare CR or LF.
func FuzzDotStuffing(f *testing.F) {
	for _, s := range []string{"", ".", "a\r\n.b\r\n", "..\n.\r\n", "a\r\r\n", "x\r", "\n\n.", "a\rb\nc", ".\r.\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want bytes.Buffer
		w := textproto.NewWriter(bufio.NewWriter(&want))
		dw := w.DotWriter()
		dw.Write(normalizeNewlines(nil, b, false))
		dw.Close()
		got := AppendDotStuffed(nil, b)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%q: got %q, want %q", b, got, want.Bytes())
		}
		if bareNewline(got) != 0 {
			t.Fatalf("%q: bare CR or LF sent: %q", b, got)
		}
	})
}

// rfcData is RFC 5321's DATA payload rule, plainly: the body ends at the
// first CRLF "." CRLF (the body starting as if after a CRLF), and a dot
// starting a line is dropped. unstuffData and the verb layer's end scan
// must equal it. (go-smtp's own reader differs for ".\r" and "\r\r\n.";
// it never reads a body in umbra.)
func rfcData(raw []byte) []byte {
	content := raw
	if i := bytes.Index(append([]byte("\r\n"), raw...), []byte("\r\n.\r\n")); i >= 0 {
		content = raw[:i] // up to and including the CRLF before the dot
	}
	var out []byte
	for len(content) > 0 {
		if content[0] == '.' {
			content = content[1:]
		}
		j := bytes.Index(content, []byte("\r\n"))
		if j < 0 {
			return append(out, content...)
		}
		out, content = append(out, content[:j+2]...), content[j+2:]
	}
	return out
}

func FuzzUnstuffData(f *testing.F) {
	for _, s := range []string{"hi\r\n.\r\n", "..x\r\n.\r\n", ".\rX\r\n.\r\n", "a\r\r\n.\r\n", "a\nb\r\n.\r\n", "", ".", "x\r\n..\r\n.\r\nafter"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := rfcData(raw)
		if got := unstuffData(nil, raw); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %q, want %q", raw, got, want)
		}
		inPlace := bytes.Clone(raw)
		if got := unstuffData(inPlace[:0], inPlace); !bytes.Equal(got, want) {
			t.Fatalf("in place, %q: got %q, want %q", raw, got, want)
		}
	})
}

// A garbled XSHADOW reply is an error, never a "new database" (which
// would make the shadow server take over a healthy primary), and ids
// that cannot be shadow message ids are dropped from discard replies.
func TestShadowReplyChecks(t *testing.T) {
	// rt18 ident18 review item 3: the id a reply may present is one the
	// shadow verbs (DB=, XSHADOWCOPY=) and the operator's forget-database
	// take: one form (shadowid.Valid), else it could be recorded and never
	// named again.
	for _, lines := range [][]string{{""}, {"  "}, {"two words"}, {"ctl\x01"}, {strings.Repeat("x", 129)},
		{strings.Repeat("x", 65)}, {"db+1"}, {"db:1"}, {"db/1"}} {
		if id, err := shadowDatabaseID(lines); err == nil {
			t.Errorf("%q accepted as database id %q", lines, id)
		}
	}
	if id, err := shadowDatabaseID([]string{" 0123456789abcdef0123456789abcdef "}); err != nil || id != "0123456789abcdef0123456789abcdef" {
		t.Errorf("a good id: %q %v", id, err)
	}
	got := discardIDs([]string{"2.0.0 4 discard notifications", "a.1", "", "bad id", "b_2"})
	if strings.Join(got, ",") != "a.1,b_2" {
		t.Errorf("discard ids %v", got)
	}
}
