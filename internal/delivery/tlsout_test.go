package delivery

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
	"umbra/internal/tlspolicy"

	gosmtp "github.com/emersion/go-smtp"
)

// testCA issues certificates for the tests' MX and policy hosts.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	n    int64
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "umbra test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{cert: c, key: key, pool: pool, n: 1}
}

// issue returns a certificate for names, with the CA in its chain.
func (ca *testCA) issue(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	ca.n++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
}

// mxSink is an SMTP server standing for one MX host; it records the
// REQUIRETLS parameter of each transaction.
type mxSink struct {
	*sink
	mu         sync.Mutex
	requireTLS []bool
}

type mxSession struct {
	*sinkSession
	m *mxSink
}

func (s *mxSession) Mail(from string, o *gosmtp.MailOptions) error {
	s.m.mu.Lock()
	s.m.requireTLS = append(s.m.requireTLS, o != nil && o.RequireTLS)
	s.m.mu.Unlock()
	return s.sinkSession.Mail(from, o)
}

// startMX serves SMTP on addr with cert (none: no STARTTLS), offering
// REQUIRETLS when requireTLS is set.
func startMX(t *testing.T, addr string, cert *tls.Certificate, requireTLS bool) *mxSink {
	t.Helper()
	m := &mxSink{sink: &sink{t: t, answers: map[string]error{}, dataErr: map[string]error{}}}
	s := m.sink
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &mxSession{sinkSession: &sinkSession{s: s, c: c}, m: m}, nil
	}))
	s.srv.Domain, s.srv.AllowInsecureAuth, s.srv.EnableREQUIRETLS = "mx.test", true, requireTLS
	if cert != nil {
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	s.srv.ErrorLog = nopLog{}
	ln := testsupport.Listen(t, addr) // a port picked before (freePort, another sink's): retried while in use
	s.addr = ln.Addr().String()
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return m
}

// stsServer serves MTA-STS policies over HTTPS for the policy hosts it
// has certificates for; policies maps a domain to its policy text.
type stsServer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	policies map[string]string
	fetches  int
}

func startSTS(t *testing.T, ca *testCA, domains ...string) *stsServer {
	t.Helper()
	s := &stsServer{policies: map[string]string{}}
	var names []string
	for _, d := range domains {
		names = append(names, "mta-sts."+d)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		p, ok := s.policies[strings.TrimPrefix(r.Host, "mta-sts.")]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, p)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv.Listener = ln
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, names...)}}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stsServer) port() int { return s.srv.Listener.Addr().(*net.TCPAddr).Port }

func (s *stsServer) set(domain, policy string) {
	s.mu.Lock()
	s.policies[domain] = policy
	s.mu.Unlock()
}

// reports records TLS-RPT results.
type reports struct {
	mu  sync.Mutex
	got []string
}

func (r *reports) Result(domain, typ, mx, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if result == "" {
		result = "success"
	}
	r.got = append(r.got, fmt.Sprintf("%s %s %s %s", domain, typ, mx, result))
}

func (r *reports) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// twoPorts finds a port free on both 127.0.0.2 and 127.0.0.3 (MX hosts
// share the connector's port).
func freePort(t *testing.T, ips ...string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		ok := true
		var ls []net.Listener
		for _, ip := range ips[1:] {
			l2, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, p))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l2)
		}
		l.Close()
		for _, l2 := range ls {
			l2.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no common free port")
	return 0
}

// tlsWorld is a destination domain on loopback: DNS (dnstest or a
// validating resolver in front of it), MX hosts, a policy server, and a
// deliverer with a TLS policy engine on a real transport database.
type tlsWorld struct {
	ca    *testCA
	dns   *dnstest.Server
	res   resolver.Resolver
	sts   *stsServer
	store *queue.Store
	clk   *clock.Fake
	rep   *reports
	eng   *tlspolicy.Engine
	d     *Deliverer
	port  int
	// httpsPort and fetchTimeout, when set, replace the policy server's
	// port and the 5 s fetch bound.
	httpsPort    int
	fetchTimeout time.Duration
	// reporter, when set, receives the engine's reports instead of rep.
	reporter tlspolicy.Reporter
}

func newTLSWorld(t *testing.T, records ...string) *tlsWorld {
	t.Helper()
	dns := dnstest.Start(t, records...)
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOn(t, res)
	w.dns = dns
	return w
}

// newTLSWorldOn is a world whose DNS is res.
func newTLSWorldOn(t *testing.T, res resolver.Resolver) *tlsWorld {
	t.Helper()
	return newTLSWorldOnPort(t, res, freePort(t, "127.0.0.2", "127.0.0.3"))
}

// newTLSWorldOnPort is a world whose DNS is res and whose MX hosts
// listen on port (a DNS zone that names the port: TLSA records).
func newTLSWorldOnPort(t *testing.T, res resolver.Resolver, port int) *tlsWorld {
	t.Helper()
	w := &tlsWorld{ca: newTestCA(t), rep: &reports{}, clk: clock.NewFake(time.Now()), res: res}
	w.port = port
	var err error
	w.sts = startSTS(t, w.ca, "sts.test", "dane.test")
	w.store, err = queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	w.build(t, config.TLSOpportunistic, true, true)
	return w
}

// build makes the engine and deliverer (again: a restart keeps the store).
func (w *tlsWorld) build(t *testing.T, connectorTLS string, dane, sts bool) {
	t.Helper()
	httpsPort, fetchTimeout := w.sts.port(), 5*time.Second
	if w.httpsPort != 0 {
		httpsPort, fetchTimeout = w.httpsPort, w.fetchTimeout
	}
	var rep tlspolicy.Reporter = w.rep
	if w.reporter != nil {
		rep = w.reporter
	}
	w.eng = tlspolicy.New(tlspolicy.Config{Resolver: w.res, DANE: dane, MTASTS: sts, RootCAs: w.ca.pool, HTTPSPort: httpsPort,
		FetchTimeout: fetchTimeout, Store: w.store, Clock: w.clk, Report: rep})
	sc := mxConnector(fmt.Sprint(w.port))
	sc.TLS = connectorTLS
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}},
		[]routing.Connector{{Name: sc.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{sc}, Resolver: w.res,
		ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: w.ca.pool}, TLSPolicy: w.eng})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	w.d = d
}

func (w *tlsWorld) deliver(m *queue.Message) queue.Result {
	res := w.d.Deliver(context.Background(), m, body, all(m))
	return res[0]
}

const stsRecords = `_mta-sts.sts.test. 300 IN TXT "v=STSv1; id=20261130"
sts.test. 300 IN MX 10 mx1.sts.test.
mx1.sts.test. 300 IN A 127.0.0.2
mx2.sts.test. 300 IN A 127.0.0.3
mta-sts.sts.test. 300 IN A 127.0.0.1`

func stsWorld(t *testing.T, mode string) *tlsWorld {
	w := newTLSWorld(t, strings.Split(stsRecords, "\n")...)
	w.sts.set("sts.test", "version: STSv1\r\nmode: "+mode+"\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\n")
	return w
}

// Enforce, and the MX presents a certificate for its name from a CA
// umbra trusts: delivered over TLS; the policy is cached in the
// transport database.
func TestMTASTSEnforcePass(t *testing.T) {
	w := stsWorld(t, "enforce")
	cert := w.ca.issue(t, "mx1.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	r := w.deliver(message("a@sts.test"))
	if r.Outcome != queue.RelayedOK {
		t.Fatalf("enforce with a valid certificate: %+v", r)
	}
	if got := mx.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("received %+v, want one message over TLS", got)
	}
	if v, ok, _ := w.store.GetTLSPolicy("sts.test"); !ok || !strings.Contains(string(v), "enforce") {
		t.Fatalf("policy not cached in the transport database: %q", v)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "sts.test sts mx1.sts.test success" {
		t.Errorf("reports %q", got)
	}
}

// Enforce, and the MX's certificate names another host: deferred with
// 4.7.5, nothing sent; an MX the policy does not list is not used.
func TestMTASTSEnforceFailDefers(t *testing.T) {
	w := stsWorld(t, "enforce")
	cert := w.ca.issue(t, "other.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	r := w.deliver(message("a@sts.test"))
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5") || !strings.Contains(r.Reply, "mta-sts") {
		t.Fatalf("enforce with a mismatching certificate: %+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("mail sent to a host that failed the policy")
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "sts.test sts mx1.sts.test certificate-host-mismatch" {
		t.Errorf("reports %q", got)
	}

	// An MX not listed in the policy is never contacted.
	w.dns.Remove("sts.test")
	w.dns.Add(t, "sts.test. 300 IN MX 10 mx2.sts.test.")
	good := w.ca.issue(t, "mx2.sts.test")
	mx2 := startMX(t, fmt.Sprintf("127.0.0.3:%d", w.port), &good, false)
	r = w.deliver(message("a@sts.test"))
	if r.Outcome != queue.Deferred || !strings.Contains(r.Reply, "matches its MTA-STS policy") || len(mx2.received()) != 0 {
		t.Fatalf("unlisted MX: %+v", r)
	}
}

// Testing mode: the failure is reported and the mail delivered.
func TestMTASTSTestingFailDelivers(t *testing.T) {
	w := stsWorld(t, "testing")
	cert := w.ca.issue(t, "other.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	r := w.deliver(message("a@sts.test"))
	if r.Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("testing mode must deliver: %+v", r)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "sts.test sts mx1.sts.test certificate-host-mismatch" {
		t.Errorf("reports %q", got)
	}

	// An MX the testing policy does not list: used, and its session
	// reported once as a validation failure.
	w.dns.Remove("sts.test")
	w.dns.Add(t, "sts.test. 300 IN MX 10 mx2.sts.test.")
	good := w.ca.issue(t, "mx2.sts.test")
	mx2 := startMX(t, fmt.Sprintf("127.0.0.3:%d", w.port), &good, false)
	w.build(t, config.TLSOpportunistic, true, true) // no pooled connection to mx1
	if r := w.deliver(message("b@sts.test")); r.Outcome != queue.RelayedOK || len(mx2.received()) != 1 {
		t.Fatalf("testing mode, unlisted MX: %+v", r)
	}
	if got := w.rep.list(); len(got) != 2 || got[1] != "sts.test sts mx2.sts.test validation-failure" {
		t.Errorf("reports %q", got)
	}
}

// The cached policy survives a restart: with the policy host gone and
// the TXT record unanswerable, a new engine on the same database still
// enforces it; past half its max_age Refresh fetches it again.
func TestMTASTSCacheSurvivesRestart(t *testing.T) {
	w := stsWorld(t, "enforce")
	good := w.ca.issue(t, "mx1.sts.test")
	startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &good, false)
	if r := w.deliver(message("a@sts.test")); r.Outcome != queue.RelayedOK {
		t.Fatalf("%+v", r)
	}
	fetches := w.sts.fetches
	w.dns.Fail("_mta-sts.sts.test")
	w.build(t, config.TLSOpportunistic, true, true) // restart: memory gone, store kept
	p, _ := w.eng.STS(context.Background(), "sts.test")
	if p == nil || p.Mode != "enforce" || !p.MatchMX("mx1.sts.test") {
		t.Fatalf("policy after restart: %+v", p)
	}
	if w.sts.fetches != fetches {
		t.Fatal("policy fetched again although cached")
	}
	if n := w.eng.Refresh(context.Background()); n != 0 {
		t.Fatalf("refreshed %d policies before half their max_age", n)
	}
	w.clk.Advance(13 * time.Hour)
	w2 := dnstest.Start(t, strings.Split(strings.ReplaceAll(stsRecords, "id=20261130", "id=20261201"), "\n")...)
	w.res, _ = resolver.New(resolver.Config{Servers: []string{w2.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	w.build(t, config.TLSOpportunistic, true, true)
	if n := w.eng.Refresh(context.Background()); n != 1 {
		t.Fatalf("refreshed %d policies past half their max_age, want 1", n)
	}
	if p := w.eng.Cached("sts.test"); p == nil || p.ID != "20261201" {
		t.Fatalf("refreshed policy %+v", p)
	}
	// past max_age without a refresh the policy is gone
	w.clk.Advance(25 * time.Hour)
	if p := w.eng.Cached("sts.test"); p != nil {
		t.Fatalf("expired policy still used: %+v", p)
	}
}

// REQUIRETLS (RFC 8689): a message that carries it is not sent over a
// hop whose TLS nothing verifies; with no DANE or MTA-STS policy at all
// it fails with 5.7.10 (a DSN); a hop whose certificate does not verify
// defers it.
func TestRequireTLSRefusal(t *testing.T) {
	w := newTLSWorld(t, "plain.test. 300 IN MX 10 mx1.plain.test.", "mx1.plain.test. 300 IN A 127.0.0.2")
	cert := w.ca.issue(t, "mx1.plain.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, true)
	m := message("a@plain.test")
	m.RequireTLS = true
	r := w.deliver(m)
	if r.Outcome != queue.FailedPerm || !strings.HasPrefix(r.Reply, "550 5.7.10") {
		t.Fatalf("REQUIRETLS over an unverified hop: %+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("REQUIRETLS message sent over an unverified hop")
	}
	// The same message without REQUIRETLS goes (opportunistic TLS).
	if r := w.deliver(message("a@plain.test")); r.Outcome != queue.RelayedOK {
		t.Fatalf("%+v", r)
	}

	// An MTA-STS verified hop that offers REQUIRETLS: delivered, flag carried.
	w2 := stsWorld(t, "testing") // testing counts as enforce for REQUIRETLS
	good := w2.ca.issue(t, "mx1.sts.test")
	mx2 := startMX(t, fmt.Sprintf("127.0.0.2:%d", w2.port), &good, true)
	m = message("b@sts.test")
	m.RequireTLS = true
	if r := w2.deliver(m); r.Outcome != queue.RelayedOK {
		t.Fatalf("REQUIRETLS over a verified hop: %+v", r)
	}
	if len(mx2.requireTLS) != 1 || !mx2.requireTLS[0] {
		t.Fatalf("REQUIRETLS not carried: %v", mx2.requireTLS)
	}
	// ... but not a hop with a certificate for another name, even in testing mode.
	mx2.srv.Close()
	bad := w2.ca.issue(t, "other.sts.test")
	startMX(t, fmt.Sprintf("127.0.0.2:%d", w2.port), &bad, true)
	m.ID++
	// (deferred, not failed: a certificate may be a passing misconfiguration)
	if r := w2.deliver(m); r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.7.5 REQUIRETLS") {
		t.Fatalf("REQUIRETLS over a hop failing verification: %+v", r)
	}
}

// A verified hop without REQUIRETLS in its EHLO: 5.7.10.
func TestRequireTLSNotOffered(t *testing.T) {
	w := stsWorld(t, "enforce")
	good := w.ca.issue(t, "mx1.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &good, false)
	m := message("b@sts.test")
	m.RequireTLS = true
	if r := w.deliver(m); r.Outcome != queue.FailedPerm || !strings.Contains(r.Reply, "5.7.10") {
		t.Fatalf("%+v", r)
	}
	if len(mx.received()) != 0 {
		t.Fatal("sent to a hop without REQUIRETLS")
	}
}

// "TLS-Required: No" (RFC 8689 §5): the sender asks that recipient
// domain policies not stop the message; an enforce failure delivers.
func TestTLSRequiredNoHeader(t *testing.T) {
	w := stsWorld(t, "enforce")
	cert := w.ca.issue(t, "other.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	m := message("a@sts.test")
	res := w.d.Deliver(context.Background(), m, []byte("TLS-Required: No\r\nSubject: x\r\n\r\nhi\r\n"), all(m))
	if res[0].Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("TLS-Required: No must deliver: %+v", res)
	}
}

// A policy host whose certificate umbra does not trust, or that has no
// policy: no policy (RFC 8461 §5: deliver as without MTA-STS), the
// failures kept as sts-webpki-invalid and sts-policy-fetch-error
// (RFC 8460 §4.3.2.3) and reported with the sessions they leave without
// a policy (not per fetch), nothing cached.
func TestMTASTSFetchFailure(t *testing.T) {
	w := stsWorld(t, "enforce")
	rep := &reports{}
	eng := tlspolicy.New(tlspolicy.Config{Resolver: w.res, MTASTS: true, RootCAs: newTestCA(t).pool, HTTPSPort: w.sts.port(),
		FetchTimeout: 5 * time.Second, Store: w.store, Clock: w.clk, Report: rep})
	if p, _ := eng.STS(context.Background(), "sts.test"); p != nil {
		t.Fatalf("policy from an untrusted policy host: %+v", p)
	}
	w.sts.mu.Lock()
	delete(w.sts.policies, "sts.test")
	w.sts.mu.Unlock()
	if p, _ := w.eng.STS(context.Background(), "sts.test"); p != nil {
		t.Fatalf("policy from a 404: %+v", p)
	}
	if got := append(rep.list(), w.rep.list()...); len(got) != 0 {
		t.Fatalf("a fetch reported as a session: %q", got)
	}
	if f, ok := eng.LastFetchFailure("sts.test"); !ok || f.Result != "sts-webpki-invalid" {
		t.Fatalf("untrusted policy host: %+v", f)
	}
	if f, ok := w.eng.LastFetchFailure("sts.test"); !ok || f.Result != "sts-policy-fetch-error" {
		t.Fatalf("404: %+v", f)
	}
	if _, ok, _ := w.store.GetTLSPolicy("sts.test"); ok {
		t.Fatal("a failed fetch cached a policy")
	}
	// A failed fetch is not tried again for a few minutes.
	fetches := w.sts.fetches
	w.eng.STS(context.Background(), "sts.test")
	if w.sts.fetches != fetches {
		t.Fatal("a failed fetch tried again at once")
	}
	w.clk.Advance(6 * time.Minute)
	w.eng.STS(context.Background(), "sts.test")
	if w.sts.fetches != fetches+1 {
		t.Fatal("a failed fetch never tried again")
	}

	// Delivery goes on with the connector's setting.
	cert := w.ca.issue(t, "other.sts.test")
	mx := startMX(t, fmt.Sprintf("127.0.0.2:%d", w.port), &cert, false)
	if r := w.deliver(message("a@sts.test")); r.Outcome != queue.RelayedOK || len(mx.received()) != 1 {
		t.Fatalf("%+v", r)
	}
	if got := w.rep.list(); len(got) != 1 || got[0] != "sts.test sts mx1.sts.test sts-policy-fetch-error" {
		t.Fatalf("reports %q", got)
	}
}
