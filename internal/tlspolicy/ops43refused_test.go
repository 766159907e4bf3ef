package tlspolicy

import (
	"bufio"
	"bytes"
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
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/httprefusal"
)

type ops43Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *ops43Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *ops43Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ops43Listen listens on 127.0.0.154 at the first free port of
// 8400-8599.
func ops43Listen(t *testing.T) net.Listener {
	t.Helper()
	for p := 8400; p < 8600; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.154:%d", p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port on 127.0.0.154 in 8400-8599")
	return nil
}

// OPS-43 item 2: the MTA-STS publish server's own refusals by net/http
// (a malformed request line 400, a header too large 431) reached no
// handler and were logged nowhere. They are logged as the console's,
// the admin socket's and the metrics server's are (httprefusal: a WARN
// naming the client and net/http's status, no header's bytes), and an
// answered fetch of the policy logs nothing.
func TestOPS43PublishServerLogsNetHTTPRefusals(t *testing.T) {
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
	var logs ops43Logs
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln := ops43Listen(t)
	go live.Serve(srv, ln, httprefusal.New(PublishRefusals, log, nil))
	t.Cleanup(func() { srv.Close() })

	// send writes req over TLS and returns the status line of the answer.
	send := func(req string) string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.154")}}, "tcp", ln.Addr().String(),
			&tls.Config{InsecureSkipVerify: true, ServerName: "mta-sts.pub.test"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	if got := send("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.pub.test\r\nConnection: close\r\n\r\n"); got != "HTTP/1.1 200 OK" {
		t.Fatalf("the policy's fetch answered %q", got)
	}
	if strings.Contains(logs.String(), "refused") {
		t.Fatalf("an answered fetch logged a refusal:\n%s", logs.String())
	}
	if got := send("NOT A REQUEST\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400") {
		t.Fatalf("a malformed request line answered %q", got)
	}
	secret := strings.Repeat("s3cret", 8<<10) // past MaxHeaderBytes
	if got := send("GET / HTTP/1.1\r\nHost: mta-sts.pub.test\r\nX-Big: " + secret + "\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Fatalf("a header too large answered %q", got)
	}
	l := logs.String()
	const msg = `msg="MTA-STS policy request refused before it was read whole; connection closed" client=127.0.0.154`
	if !strings.Contains(l, `level=WARN `+msg+` status=400`) {
		t.Errorf("no WARN of the malformed request (400):\n%s", l)
	}
	if !strings.Contains(l, msg+` status=431`) {
		t.Errorf("no line of the header too large (431):\n%s", l)
	}
	if strings.Contains(l, "s3cret") {
		t.Errorf("a header's bytes were logged:\n%s", l)
	}
}
