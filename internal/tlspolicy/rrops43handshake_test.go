package tlspolicy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"umbra/internal/httprefusal"
)

// rrops43Listen listens on 127.0.0.166 at the first free port of
// 9600-9799.
func rrops43Listen(t *testing.T) net.Listener {
	t.Helper()
	for p := 9600; p < 9800; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.166:%d", p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port on 127.0.0.166 in 9600-9799")
	return nil
}

// rrops43Publish serves a live publication of pub.test through Serve,
// logging to logs.
func rrops43Publish(t *testing.T, logs *ops43Logs) net.Listener {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mta-sts.pub.test"},
		DNSNames: []string{"mta-sts.pub.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pub := Publication{Mode: ModeEnforce, MX: []string{"mx.pub.test"}, MaxAge: 24 * time.Hour, Domains: []string{"pub.test"}}
	live := NewLive(pub, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	srv := live.Server()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln := rrops43Listen(t)
	done := make(chan struct{})
	go func() { live.Serve(srv, ln, httprefusal.New(PublishRefusals, log, nil)); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln
}

func rrops43Dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.166")}}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// OPS-43 item 2 (reread): with TLS taken below net/http (Serve), net/http
// no longer sees a TLS handshake: a plain-HTTP request to the publish
// server got no answer at all (net/http's "400 ... Client sent an HTTP
// request to an HTTPS server" was lost), and a handshake that failed —
// a sender refusing the certificate, the very failure that leaves a
// domain with no policy — was logged nowhere (net/http logged "TLS
// handshake error from ..."). A plain-HTTP request is answered so
// again, and a failed handshake is logged under the one pacing rule,
// naming the client and the reason.
func TestOPS43PublishServerPlainHTTPAndFailedHandshakeSaid(t *testing.T) {
	var logs ops43Logs
	ln := rrops43Publish(t, &logs)

	c := rrops43Dial(t, ln)
	io.WriteString(c, "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.pub.test\r\n\r\n")
	b, _ := io.ReadAll(bufio.NewReader(c))
	c.Close()
	if !strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request") || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Errorf("a plain-HTTP request was answered %q", b)
	}

	// A sender whose check of the certificate fails (it names
	// mta-sts.pub.test, not mta-sts.other.test, and is self-signed)
	// ends the handshake with an alert.
	raw := rrops43Dial(t, ln)
	tc := tls.Client(raw, &tls.Config{ServerName: "mta-sts.other.test"})
	if err := tc.Handshake(); err == nil {
		t.Fatal("the handshake with a certificate the client refuses succeeded")
	}
	tc.Close()

	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "handshake failed") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	l := logs.String()
	if !strings.Contains(l, `level=WARN msg="MTA-STS policy TLS handshake failed; connection closed" client=127.0.0.166`) ||
		!strings.Contains(l, "HTTP request to an HTTPS server") {
		t.Errorf("the plain-HTTP request's failed handshake not logged at WARN naming the client and the reason:\n%s", l)
	}
	if !strings.Contains(l, `level=DEBUG msg="MTA-STS policy TLS handshake failed; connection closed" client=127.0.0.166`) ||
		!strings.Contains(l, "certificate") {
		t.Errorf("the refused certificate's failed handshake not logged (DEBUG, within the minute of the WARN) with its reason:\n%s", l)
	}
}

// OPS-43 item 2 (reread): the handshake, now made at the connection's
// first read, is bounded by the header's timeout — a client that opens
// the connection and never finishes its handshake is cut off, its
// failure logged — and the publication's Set still reaches the next
// connection's handshake (a certificate renewed), as under ServeTLS;
// Serve returns when the server is closed.
func TestOPS43PublishServerHandshakeBoundedAndCertificateRenewed(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := func(serial int64) tls.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "mta-sts.pub.test"},
			DNSNames: []string{"mta-sts.pub.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	pub := Publication{Mode: ModeEnforce, MX: []string{"mx.pub.test"}, MaxAge: 24 * time.Hour, Domains: []string{"pub.test"}}
	live := NewLive(pub, cert(1))
	srv := live.Server()
	srv.ReadHeaderTimeout = 300 * time.Millisecond // the test's; the server's own is 10s
	var logs ops43Logs
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln := rrops43Listen(t)
	done := make(chan error, 1)
	go func() { done <- live.Serve(srv, ln, httprefusal.New(PublishRefusals, log, nil)) }()

	// A client that sends one byte of a ClientHello and no more.
	c := rrops43Dial(t, ln) // its own deadline: 10s
	c.Write([]byte{0x16})
	if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("a handshake never finished was not cut off by the server (read: %v)", err)
	}
	c.Close()

	serial := func() int64 {
		raw := rrops43Dial(t, ln)
		defer raw.Close()
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, ServerName: "mta-sts.pub.test"})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		st := tc.ConnectionState()
		if st.NegotiatedProtocol == "h2" {
			t.Errorf("HTTP/2 negotiated")
		}
		return st.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d served, want 1", got)
	}
	live.Set(pub, cert(2))
	if got := serial(); got != 2 {
		t.Errorf("after Set, the next connection was served serial %d, want 2", got)
	}
	srv.Close()
	select {
	case err := <-done:
		if err != http.ErrServerClosed {
			t.Errorf("Serve returned %v at the close", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when the server was closed")
	}
	if l := logs.String(); !strings.Contains(l, `msg="MTA-STS policy TLS handshake failed; connection closed" client=127.0.0.166 reason=`) ||
		!strings.Contains(l, "timeout") {
		t.Errorf("the handshake cut off by the timeout was not logged:\n%s", l)
	}
}
