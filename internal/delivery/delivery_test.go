package delivery

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// sink is a real SMTP (or LMTP) server on loopback that records what it
// receives and answers recipients from a script.
type sink struct {
	t       *testing.T
	srv     *gosmtp.Server
	addr    string
	mu      sync.Mutex
	answers map[string]error // recipient → RCPT error
	dataErr map[string]error // LMTP: recipient → post-DATA error
	got     []sunk
	conns   int
	helos   []string
	ehlos   atomic.Int32 // EHLO commands seen on the wire
	user    string       // required AUTH user, if set
}

// ehloCounter counts the EHLO commands a client sends.
type ehloCounter struct {
	net.Listener
	n *atomic.Int32
}

func (l ehloCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return &ehloConn{Conn: c, n: l.n}, err
}

type ehloConn struct {
	net.Conn
	n *atomic.Int32
}

func (c *ehloConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for _, line := range strings.Split(string(b[:n]), "\n") {
		if strings.HasPrefix(strings.ToUpper(line), "EHLO ") {
			c.n.Add(1)
		}
	}
	return n, err
}

type sunk struct {
	from  string
	rcpts []string
	body  string
	tls   bool
	user  string
}

type sinkSession struct {
	s     *sink
	c     *gosmtp.Conn
	from  string
	rcpts []string
	user  string
}

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "umbra" || pass != "pw" {
			return errors.New("bad")
		}
		ss.user = user
		return nil
	}), nil
}
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if ss.s.user != "" && ss.user == "" {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "auth first"}
	}
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.s.mu.Lock()
	err := ss.s.answers[to]
	ss.s.mu.Unlock()
	if err == nil {
		ss.rcpts = append(ss.rcpts, to)
	}
	return err
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	_, tlsOn := ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, sunk{from: ss.from, rcpts: ss.rcpts, body: string(b), tls: tlsOn, user: ss.user})
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	if err := ss.Data(r); err != nil {
		return err
	}
	for _, rc := range ss.rcpts {
		ss.s.mu.Lock()
		status.SetStatus(rc, ss.s.dataErr[rc])
		ss.s.mu.Unlock()
	}
	return nil
}
func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }

func startSink(t *testing.T, addr string, lmtp bool, tlsCfg *tls.Config) *sink {
	t.Helper()
	return startSinkNamed(t, addr, lmtp, tlsCfg, "sink.test")
}

// startSinkNamed is startSink greeting with name.
func startSinkNamed(t *testing.T, addr string, lmtp bool, tlsCfg *tls.Config, name string) *sink {
	t.Helper()
	return startSinkWith(t, addr, lmtp, tlsCfg, name, nil)
}

// startSinkWith is startSinkNamed with set applied to the server before
// it serves.
func startSinkWith(t *testing.T, addr string, lmtp bool, tlsCfg *tls.Config, name string, set func(*gosmtp.Server)) *sink {
	t.Helper()
	s := &sink{t: t, answers: map[string]error{}, dataErr: map[string]error{}}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.helos = append(s.helos, c.Hostname())
		s.mu.Unlock()
		return &sinkSession{s: s, c: c}, nil
	}))
	s.srv.Domain, s.srv.LMTP, s.srv.TLSConfig, s.srv.AllowInsecureAuth = name, lmtp, tlsCfg, true
	s.srv.EnableDSN = true
	s.srv.ErrorLog = nopLog{}
	if set != nil {
		set(s.srv)
	}
	ln := testsupport.Listen(t, addr) // a port picked before (freePort, another sink's): retried while in use
	s.addr = ln.Addr().String()
	go s.srv.Serve(ehloCounter{Listener: ln, n: &s.ehlos})
	t.Cleanup(func() { s.srv.Close() })
	return s
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.got...)
}

// fakeDNS maps names to MX records and addresses.
type fakeDNS struct {
	mx    map[string][]*net.MX
	hosts map[string][]string
	fail  map[string]error
}

func (f *fakeDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if err := f.fail[name]; err != nil {
		return nil, err
	}
	if mx, ok := f.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupHost(ctx context.Context, host string) ([]string, error) {
	if err := f.fail[host]; err != nil {
		return nil, err
	}
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func newDeliverer(t *testing.T, dns Resolver, mbox config.Mailbox, conns ...config.SendConnector) *Deliverer {
	t.Helper()
	return newDelivererWith(t, dns, mbox, nil, conns...)
}

// newDelivererWith is newDeliverer with dependencies given at
// construction (the record of final deliveries).
func newDelivererWith(t *testing.T, dns Resolver, mbox config.Mailbox, dedup Dedup, conns ...config.SendConnector) *Deliverer {
	t.Helper()
	var rc []routing.Connector
	for i := range conns {
		if conns[i].Port == 0 {
			conns[i].Port = 25
		}
		if conns[i].TLS == "" {
			conns[i].TLS = config.TLSOpportunistic
		}
		c := routing.Connector{Name: conns[i].Name, Enabled: conns[i].IsEnabled()}
		for _, as := range conns[i].AddressSpaces {
			c.AddressSpaces = append(c.AddressSpaces, routing.AddressSpace{Domain: as.Domain, Cost: as.Cost})
		}
		rc = append(rc, c)
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, rc)
	// DataTimeout bounds the whole body's submission (go-smtp's
	// SubmissionTimeout): the tests send bodies of several MiB to sinks
	// in this process, which under -race on a loaded machine take far
	// longer than on an idle one. No test here waits for it to fire.
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: conns, Mailbox: mbox, Resolver: dns,
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, DataTimeout: 60 * time.Second, Dedup: dedup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func message(rcpts ...string) *queue.Message {
	m := &queue.Message{ID: 0xBEEF, From: "sender@example.org", Size: 40}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: r})
	}
	return m
}

var body = []byte("Subject: test\r\n\r\nhello\r\n")

func all(m *queue.Message) []int {
	var out []int
	for i := range m.Rcpts {
		out = append(out, i)
	}
	return out
}

func byRcpt(m *queue.Message, res []queue.Result) map[string]queue.Result {
	out := map[string]queue.Result{}
	for _, r := range res {
		out[m.Rcpts[r.Rcpt].Addr] = r
	}
	return out
}

func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func mxConnector(port string) config.SendConnector {
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	return config.SendConnector{Name: "internet", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}}, Port: p}
}

func TestMXDeliveryPerRecipientResults(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	s.answers["bad@example.net"] = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	s.answers["busy@example.net"] = &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	m := message("ok@example.net", "bad@example.net", "busy@example.net")
	got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if got["ok@example.net"].Outcome != queue.RelayedOK || got["bad@example.net"].Outcome != queue.FailedPerm ||
		got["busy@example.net"].Outcome != queue.Deferred {
		t.Fatalf("results: %+v", got)
	}
	if got["bad@example.net"].Reply != "550 5.1.1 no such user" {
		t.Errorf("reply %q", got["bad@example.net"].Reply)
	}
	if hop := got["ok@example.net"].NextHop; hop != "mx.example.net[127.0.0.2]:"+portOf(s.addr) {
		t.Errorf("next hop %q", hop)
	}
	r := s.received()
	if len(r) != 1 || len(r[0].rcpts) != 1 || r[0].body != string(body) || r[0].from != "sender@example.org" {
		t.Fatalf("sink got %+v", r)
	}
	if s.helos[0] != "umbra.test" {
		t.Errorf("EHLO name %q", s.helos[0])
	}
}

func TestMXFallbackAndDNSOutcomes(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	port := portOf(s.addr)
	dns := &fakeDNS{
		mx: map[string][]*net.MX{
			"two.example":  {{Host: "down.example", Pref: 5}, {Host: "up.example", Pref: 10}},
			"null.example": {{Host: ".", Pref: 0}},
		},
		hosts: map[string][]string{"down.example": {"127.0.0.3"}, "up.example": {"127.0.0.2"}, "nomx.example": {"127.0.0.2"}},
		fail: map[string]error{"flaky.example": &net.DNSError{Err: "server misbehaving", Name: "flaky.example", IsTemporary: true},
			// A resolver refusing the junk name an address literal would
			// be: it is never asked.
			"[127.0.0.2]": &net.DNSError{Err: "server misbehaving", Name: "[127.0.0.2]", IsTemporary: true}},
	}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	for rcpt, want := range map[string]struct {
		o     queue.Outcome
		reply string
	}{
		"a@two.example":     {queue.RelayedOK, "250"}, // 127.0.0.3 refuses; the next MX takes it
		"a@nomx.example":    {queue.RelayedOK, "250"}, // no MX: the domain's own address
		"a@null.example":    {queue.FailedPerm, "556 5.1.10"},
		"a@missing.example": {queue.FailedPerm, "550 5.1.2"},
		"a@flaky.example":   {queue.Deferred, "451 4.4.3"},
		"a@[127.0.0.2]":     {queue.FailedPerm, "550 5.1.2"}, // an address literal is no domain to route by
	} {
		m := message(rcpt)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != want.o || !strings.HasPrefix(res[0].Reply, want.reply) {
			t.Errorf("%s: %+v, want %v %s", rcpt, res, want.o, want.reply)
		}
	}
}

func TestConnectionReuse(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 1}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	var greeting int32
	for i := 0; i < 5; i++ {
		m := message("r@example.net")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("message %d: %+v", i, res)
		}
		if i == 0 {
			greeting = s.ehlos.Load()
		}
	}
	if s.conns != 1 || len(s.received()) != 5 {
		t.Errorf("5 messages over %d connections (%d received), want 1", s.conns, len(s.received()))
	}
	// A connection greets once (opportunistic TLS, no STARTTLS offered:
	// the prelude's EHLO reply serves go-smtp's), and a reused one is
	// checked without a command: RSET would make go-smtp greet again.
	if greeting != 1 {
		t.Errorf("%d EHLO commands on a new connection, want 1", greeting)
	}
	if n := s.ehlos.Load(); n != greeting {
		t.Errorf("%d EHLO commands after reusing the connection, %d at its start", n, greeting)
	}
}

func TestSmartHostTLSAndAuth(t *testing.T) {
	certPEM, keyPEM, pool := selfSigned(t)
	cert, _ := tls.X509KeyPair(certPEM, keyPEM)
	s := startSink(t, "127.0.0.1:0", false, &tls.Config{Certificates: []tls.Certificate{cert}})
	s.user = "umbra"
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("pw\n"), 0o600)
	sc := config.SendConnector{Name: "smarthost", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{"mx.test:" + portOf(s.addr)}, TLS: config.TLSVerify,
		Auth: config.SendAuth{Username: "umbra", PasswordFile: pwFile}}
	dns := &fakeDNS{hosts: map[string][]string{"mx.test": {"127.0.0.1"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, sc)
	d.st.Load().cfg.TLSConfig = &tls.Config{RootCAs: pool}
	m := message("x@anywhere.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if res[0].Outcome != queue.RelayedOK {
		t.Fatalf("%+v", res)
	}
	got := s.received()[0]
	if !got.tls || got.user != "umbra" {
		t.Errorf("delivered without TLS (%v) or auth (%q)", got.tls, got.user)
	}
	for _, h := range s.helos {
		if h != "umbra.test" {
			t.Errorf("EHLO name %q (go-smtp's STARTTLS path would say localhost)", h)
		}
	}

	// A server without STARTTLS under a required policy: deferred, never plaintext.
	plain := startSink(t, "127.0.0.1:0", false, nil)
	sc.SmartHosts, sc.TLS, sc.Auth = []string{"127.0.0.1:" + portOf(plain.addr)}, config.TLSRequired, config.SendAuth{}
	d = newDeliverer(t, dns, config.Mailbox{}, sc)
	res = d.Deliver(context.Background(), m, body, all(m))
	if res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.7.5") || len(plain.received()) != 0 {
		t.Fatalf("TLS required but not offered: %+v", res)
	}
}

func TestConnectorSizeLimitAndNoRoute(t *testing.T) {
	sc := config.SendConnector{Name: "small", AddressSpaces: []config.AddressSpace{{Domain: "small.example", Cost: 1}},
		SmartHosts: []string{"127.0.0.1:1"}, MaxMessageSize: 10}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	m := message("a@small.example", "b@nowhere.example")
	got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if r := got["a@small.example"]; r.Outcome != queue.FailedPerm || !strings.HasPrefix(r.Reply, "552 5.3.4") {
		t.Errorf("size limit: %+v", r)
	}
	if r := got["b@nowhere.example"]; r.Outcome != queue.Deferred || r.NextHop != "unreachable" {
		t.Errorf("no route: %+v", r)
	}
}

func TestMaildirDelivery(t *testing.T) {
	root := t.TempDir()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
	m := message("Alice@example.test", "bob@example.test")
	for _, r := range d.Deliver(context.Background(), m, body, all(m)) {
		if r.Outcome != queue.DeliveredOK {
			t.Fatalf("%+v", r)
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "new", "*"))
	tmp, _ := filepath.Glob(filepath.Join(root, "example.test", "alice", "tmp", "*"))
	if len(files) != 1 || len(tmp) != 0 {
		t.Fatalf("new: %v tmp: %v", files, tmp)
	}
	b, _ := os.ReadFile(files[0])
	if string(b) != "Return-Path: <sender@example.org>\r\nDelivered-To: Alice@example.test\r\n"+string(body) {
		t.Errorf("maildir file:\n%q", b)
	}
}

func TestLMTPPerRecipient(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", true, nil)
	s.dataErr["full@example.test"] = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	s.dataErr["gone@example.test"] = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: s.addr})
	m := message("ok@example.test", "full@example.test", "gone@example.test")
	got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if got["ok@example.test"].Outcome != queue.DeliveredOK || got["full@example.test"].Outcome != queue.Deferred ||
		got["gone@example.test"].Outcome != queue.FailedPerm {
		t.Fatalf("LMTP results: %+v", got)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mx.test"}, DNSNames: []string{"mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kb), pool
}

func pemBlock(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

// Recipients routed to a suspended queue come back Held, with their queue,
// and no connection is made.
func TestSuspendedQueueIsHeld(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 1}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(s.addr)))
	d.st.Load().cfg.Suspended = func(q string) bool { return q == "mx:example.net" }
	m := message("a@example.net")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Held || res[0].Queue != "mx:example.net" || s.conns != 0 {
		t.Fatalf("%+v, %d connections", res, s.conns)
	}
}

// seenSet answers claims from a fixed set of "database|org id|rcpt"
// records; "busy|..." marks a copy in flight elsewhere.
type seenSet map[string]bool

func (s seenSet) ClaimFinal(_ queue.ID, db, mid, rcpt string) queue.Claim {
	switch {
	case s[db+"|"+mid+"|"+rcpt]:
		return queue.Duplicate
	case s["busy|"+mid+"|"+rcpt]:
		return queue.Busy
	}
	return queue.Fresh
}

// A message already delivered into a recipient's mailbox database is not
// written there again (SR-11); one being delivered by another attempt
// waits; the others are delivered, and their results name the database.
func TestDuplicateSuppressed(t *testing.T) {
	root := t.TempDir()
	org := "0123456789abcdef0123456789abcdef"
	d := newDelivererWith(t, &fakeDNS{}, config.Mailbox{Maildir: root, Database: "DB1"},
		seenSet{"DB1|" + org + "|old@example.test": true, "DB2|" + org + "|new@example.test": true,
			"busy|" + org + "|wait@example.test": true})
	m := message("old@example.test", "new@example.test", "wait@example.test")
	m.OrgID = org
	got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
	if r := got["old@example.test"]; r.Outcome != queue.DeliveredOK || !r.Duplicate || r.Queue != "mailbox:DB1" {
		t.Errorf("duplicate: %+v", r)
	}
	if r := got["new@example.test"]; r.Outcome != queue.DeliveredOK || r.Duplicate || r.Database != "DB1" {
		t.Errorf("first delivery: %+v", r)
	}
	if r := got["wait@example.test"]; r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.3.0") {
		t.Errorf("copy in flight elsewhere: %+v", r)
	}
	if files, _ := filepath.Glob(filepath.Join(root, "example.test", "old", "new", "*")); len(files) != 0 {
		t.Error("the duplicate was written into the mailbox")
	}
	if files, _ := filepath.Glob(filepath.Join(root, "example.test", "new", "new", "*")); len(files) != 1 {
		t.Error("the first delivery is missing")
	}
}

// Every copy inside the organisation carries the organisation message
// id (SR-14), written from the record after this server's Received
// field: relayed over SMTP to a server of the organisation, over LMTP
// and into a Maildir. A copy that leaves the organisation (a send
// connector's MX or smart host) carries no umbra header at all: an
// outsider could replay the id through a trusting connector and have a
// legitimate message suppressed as a duplicate.
func TestCopiesCarryTheOrgID(t *testing.T) {
	org := "0123456789abcdef0123456789abcdef"
	stored := []byte("Received: from c\r\n\tby umbra.test; now\r\nSubject: test\r\n\r\nhello\r\n")
	want := "Received: from c\r\n\tby umbra.test; now\r\nX-Umbra-Org-Id: " + org + "\r\nSubject: test\r\n\r\nhello\r\n"

	s := startSink(t, "127.0.0.2:0", false, nil)
	d := newDeliverer(t, &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 10}}}, hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}, config.Mailbox{}, mxConnector(portOf(s.addr)))
	m := message("a@example.net")
	m.OrgID = org
	if r := d.Deliver(context.Background(), m, stored, all(m)); r[0].Outcome != queue.RelayedOK {
		t.Fatalf("relay: %+v", r)
	}
	if got := s.received(); len(got) != 1 || got[0].body != string(stored) {
		t.Errorf("copy leaving the organisation:\n%+v\nwant\n%q", got, stored)
	}
	// Without a topology, a send connector that speaks shadow redundancy
	// leads to a server of the organisation: the id goes along.
	s = startSink(t, "127.0.0.2:0", false, nil)
	orgConn := mxConnector(portOf(s.addr))
	orgConn.SendXShadow = true
	d = newDeliverer(t, &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 10}}}, hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}, config.Mailbox{}, orgConn)
	if r := d.Deliver(context.Background(), m, stored, all(m)); r[0].Outcome != queue.RelayedOK {
		t.Fatalf("relay: %+v", r)
	}
	if got := s.received(); len(got) != 1 || got[0].body != want {
		t.Errorf("relayed copy inside the organisation:\n%+v\nwant\n%q", got, want)
	}

	l := startSink(t, "127.0.0.1:0", true, nil)
	d = newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: l.addr})
	m = message("ok@example.test")
	m.OrgID = org
	d.Deliver(context.Background(), m, stored, all(m))
	if got := l.received(); len(got) != 1 || got[0].body != want {
		t.Errorf("LMTP copy:\n%+v", got)
	}

	root := t.TempDir()
	d = newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
	d.Deliver(context.Background(), m, stored, all(m))
	files, _ := filepath.Glob(filepath.Join(root, "example.test", "ok", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("maildir: %v", files)
	}
	if b, _ := os.ReadFile(files[0]); !strings.HasSuffix(string(b), want) {
		t.Errorf("maildir copy:\n%q", b)
	}
	if string(stored) != "Received: from c\r\n\tby umbra.test; now\r\nSubject: test\r\n\r\nhello\r\n" {
		t.Error("delivery changed the stored body")
	}
}

// TestHungMXDoesNotDelayOtherDestinations: one MX accepts connections
// and never answers (a hung or tarpitting server) while a burst for its
// domain, larger than the active set, is due; mail for another domain
// submitted after the burst is still delivered — all of it — while the
// hung server holds its connections. The test counts deliveries, never
// times them. (Before the scheduler the burst filled the active set,
// each message waiting for a connection slot of the hung domain, and
// nothing else was delivered until the command timeout.)
func TestHungMXDoesNotDelayOtherDestinations(t *testing.T) {
	fast := startSink(t, "127.0.0.2:0", false, nil)
	port := portOf(fast.addr)
	ln, err := net.Listen("tcp", "127.0.0.3:"+port)
	if err != nil {
		t.Skipf("port %s taken on 127.0.0.3: %v", port, err)
	}
	hung := testsupport.Accept(t, ln, nil) // no greeting, ever
	dns := &fakeDNS{mx: map[string][]*net.MX{
		"fast.test": {{Host: "mx.fast.test", Pref: 10}}, "hung.test": {{Host: "mx.hung.test", Pref: 10}}},
		hosts: map[string][]string{"mx.fast.test": {"127.0.0.2"}, "mx.hung.test": {"127.0.0.3"}}}
	conn := mxConnector(port)
	conn.TLS = config.TLSNone
	table := routing.NewTable(nil, []routing.Connector{{Name: conn.Name, Enabled: true,
		AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn}, Resolver: dns,
		ConnectTimeout: 2 * time.Second, CommandTimeout: time.Hour, DataTimeout: time.Hour, MaxConnectionsPerDestination: 2})
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := queue.NewManager(store, d, queue.ManagerConfig{MaxActive: 8, Scheduler: queue.SchedulerConfig{MaxWindow: 2}}) // the limit is the scheduler's (serve.go passes both the same)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		hung.Close()
		q.Wait()
		d.Close()
		store.Close()
	}()
	q.Start(ctx)
	submit := func(rcpt string) {
		m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Rcpts: []queue.Recipient{{Addr: rcpt}}}
		if err := q.Submit(ctx, m, body); err != nil {
			t.Fatal(err)
		}
	}
	for range 30 {
		submit("x@hung.test")
	}
	for range 30 {
		submit("y@fast.test")
	}
	deadline := time.Now().Add(30 * time.Second) // a bound on the test, not a timing assertion
	for len(fast.received()) < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 30 messages for fast.test delivered while mx.hung.test hangs", len(fast.received()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := hung.Count(); n > 2 {
		t.Fatalf("%d connections to the hung server, want at most its limit of 2", n)
	}
}

// TestPooledConnectionClosedByServer: a server that ends the session
// after each message (421 and close) leaves a dead connection in the
// pool; the next message sees that without a command and opens a new
// one instead of failing on it.
func TestPooledConnectionClosedByServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				io.WriteString(c, "220 once.test\r\n")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(l)); {
					case strings.HasPrefix(cmd, "EHLO"):
						io.WriteString(c, "250-once.test\r\n250 8BITMIME\r\n")
					case cmd == "DATA":
						io.WriteString(c, "354 go on\r\n")
						for l != ".\r\n" {
							if l, err = r.ReadString('\n'); err != nil {
								return
							}
						}
						io.WriteString(c, "250 2.0.0 ok\r\n421 4.4.2 once.test closing\r\n")
						return
					default:
						io.WriteString(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 1}}},
		hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(ln.Addr().String())))
	for i := range 3 {
		m := message("r@example.net")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("message %d: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections for 3 messages to a server that closes after each, want 3", n)
	}
}

// Two hubs delivering into one shared Maildir store: the second finds
// the file the first wrote. That is a suppressed duplicate (Duplicate
// set: tracked as duplicate-suppressed, counted in
// umbra_delivery_duplicates_suppressed_total, no dumpster copy of a file
// it never wrote; the operator's note says so), though its reply, which a
// DSN quotes, is a delivery's (TestDuplicateReportedAsDelivered).
func TestSharedMaildirFoundIsDuplicate(t *testing.T) {
	root := t.TempDir()
	org := "0123456789abcdef0123456789abcdef"
	stored := []byte("Received: from c\r\n\tby umbra.test; now\r\nSubject: test\r\n\r\nhello\r\n")
	var res [2]queue.Result
	for i := range res {
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{Maildir: root})
		m := message("ok@example.test")
		m.OrgID = org
		r := d.Deliver(context.Background(), m, stored, all(m))
		if len(r) != 1 {
			t.Fatalf("results: %+v", r)
		}
		res[i] = r[0]
	}
	if res[0].Outcome != queue.DeliveredOK || res[0].Duplicate || !strings.Contains(res[0].Reply, "delivered to maildir") {
		t.Errorf("first hub: %+v", res[0])
	}
	if res[1].Outcome != queue.DeliveredOK || !res[1].Duplicate || !strings.Contains(res[1].Note, "duplicate suppressed") {
		t.Errorf("second hub found the file: %+v, want a suppressed duplicate", res[1])
	}
	if files, _ := filepath.Glob(filepath.Join(root, "example.test", "ok", "new", "*")); len(files) != 1 {
		t.Errorf("%d files", len(files))
	}
}

// SR-14 (rt21d M2, M3): a copy relayed inside the organisation carries
// the organisation's first arrival and the delay notice next to the id,
// from the record; a copy leaving it carries neither.
func TestCopiesCarryTheOrganisationsArrival(t *testing.T) {
	org := "0123456789abcdef0123456789abcdef"
	stored := []byte("Received: from c\r\n\tby umbra.test; now\r\nSubject: test\r\n\r\nhello\r\n")
	arrived := time.Date(2026, 12, 3, 23, 42, 25, 0, time.UTC)
	dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net", Pref: 10}}}, hosts: map[string][]string{"mx.example.net": {"127.0.0.2"}}}
	m := message("a@example.net")
	m.OrgID, m.Arrived, m.OrgEarlier, m.DelayNotified = org, arrived.Add(80*time.Second), 80*time.Second, true
	want := "Received: from c\r\n\tby umbra.test; now\r\nX-Umbra-Org-Id: " + org + "\r\nX-Umbra-Arrived: " +
		strconv.FormatInt(arrived.Unix(), 10) + "\r\nX-Umbra-Delay-Notified: yes\r\nSubject: test\r\n\r\nhello\r\n"
	for _, inside := range []bool{true, false} {
		s := startSink(t, "127.0.0.2:0", false, nil)
		conn := mxConnector(portOf(s.addr))
		conn.SendXShadow = inside // a server of the organisation, without a topology
		d := newDeliverer(t, dns, config.Mailbox{}, conn)
		if r := d.Deliver(context.Background(), m, stored, all(m)); r[0].Outcome != queue.RelayedOK {
			t.Fatalf("relay: %+v", r)
		}
		w := want
		if !inside {
			w = string(stored)
		}
		if got := s.received(); len(got) != 1 || got[0].body != w {
			t.Errorf("inside %v: relayed\n%+v\nwant\n%q", inside, got, w)
		}
	}
}
