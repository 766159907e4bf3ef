package smtp

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// fakeQueue records submissions; failWith makes Submit fail.
type fakeQueue struct {
	mu       sync.Mutex
	next     queue.ID
	msgs     []*queue.Message
	bodies   [][]byte
	failWith error
}

func (q *fakeQueue) NewID() queue.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	return 0x1000 + q.next
}

func (q *fakeQueue) Submit(ctx context.Context, m *queue.Message, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failWith != nil {
		return q.failWith
	}
	q.msgs = append(q.msgs, m)
	q.bodies = append(q.bodies, body)
	return nil
}

// WaitGone confirms at once: the fake queue delivers instantly.
func (q *fakeQueue) WaitGone(queue.ID) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	close(ch)
	return ch, func() {}
}

func (q *fakeQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

var errDiskFull = &os.PathError{Op: "write", Path: "queue.db", Err: syscall.ENOSPC}

// testCert writes a self-signed certificate for "mx.test" and 127.0.0.1.
func testCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	pool = x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// credsFile writes accounts "alice" (secret) and "hub2" (server, hubpass).
func credsFile(t testing.TB) string {
	t.Helper()
	a, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	h, _ := bcrypt.GenerateFromPassword([]byte("hubpass"), bcrypt.MinCost)
	p := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(p, []byte("# test accounts\nalice:"+string(a)+"\nhub2:"+string(h)+":server\n"), 0o600)
	return p
}

// connectors parses receive connectors from YAML through config.Parse, so
// tests get exactly the defaults and validation a real file gets.
func connectors(t testing.TB, yaml string) []config.ReceiveConnector {
	t.Helper()
	c, err := config.Parse([]byte("server: {name: mx.test}\nreceive_connectors:\n"+yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c.ReceiveConnectors
}

// withServerRights gives connector i of conns the rights of
// permissions.servers after the load: a connector where no session can
// be a transport server, which the configuration refuses to grant them
// (config OPS-3), as the runtime guards must still hold for one.
func withServerRights(conns []config.ReceiveConnector, i int, rights ...string) []config.ReceiveConnector {
	conns[i].Permissions.Servers = rights
	return conns
}

// startServer runs a Server with the given connectors on loopback.
func startServer(t *testing.T, q Queue, conns ...config.ReceiveConnector) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func testTable() *routing.Table {
	return routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative},
		{Domain: "relay.test", Type: routing.InternalRelay}, {Domain: "xn--bcher-kva.example", Type: routing.Authoritative},
		{Domain: "straße.example", Type: routing.Authoritative}}, nil)
}

// dialog is a client that sends lines and reads replies.
type dialog struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, s *Server, from string) *dialog {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &dialog{t: t, conn: c, r: bufio.NewReader(c)}
}

// closed waits for the server to end the connection (after QUIT): the
// session's connection slot is free by then (trackedConn.Close releases
// it before the close), so the next dial of a test that opens sessions
// one after another is not refused for max_connections_per_source.
func (d *dialog) closed() {
	d.t.Helper()
	if _, err := io.Copy(io.Discard, d.r); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			d.t.Fatalf("the server did not end the connection: %v", err)
		}
	}
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (d *dialog) reply() string {
	d.t.Helper()
	var all []string
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			return "EOF " + strings.Join(all, " | ")
		}
		line = strings.TrimRight(line, "\r\n")
		all = append(all, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(all, "\n")
		}
	}
}

func (d *dialog) send(s string) { d.conn.Write([]byte(s)) }

// cmd sends one command and checks that the reply's last line starts with want.
func (d *dialog) cmd(line, want string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	got := d.reply()
	last := got[strings.LastIndex(got, "\n")+1:]
	if !strings.HasPrefix(last, want) {
		d.t.Fatalf("%q: got %q, want %q", line, got, want)
	}
	return got
}

func (d *dialog) expect(want string) string {
	d.t.Helper()
	got := d.reply()
	if !strings.HasPrefix(got[strings.LastIndex(got, "\n")+1:], want) {
		d.t.Fatalf("got %q, want %q", got, want)
	}
	return got
}

// openData greets and opens a transaction from a@example.org to
// b@example.test up to the 354 of DATA.
func (d *dialog) openData() {
	d.t.Helper()
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<b@example.test>", "250")
	d.cmd("DATA", "354")
}

func (d *dialog) startTLS(pool *x509.CertPool) {
	d.t.Helper()
	d.cmd("STARTTLS", "220")
	tc := tls.Client(d.conn, &tls.Config{RootCAs: pool, ServerName: "mx.test"})
	if err := tc.Handshake(); err != nil {
		d.t.Fatal(err)
	}
	d.conn, d.r = tc, bufio.NewReader(tc)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func contextBackground() context.Context { return context.Background() }

func saslPlain(user, pass string) sasl.Client { return sasl.NewPlainClient("", user, pass) }
