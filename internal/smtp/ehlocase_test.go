package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// ehloKeywordsNextHop is a next hop that writes its EHLO keywords in
// lower case, some with a trailing space, before and (when STARTTLS is
// used) after TLS. It answers QUIT and nothing else.
func ehloKeywordsNextHop(t *testing.T, withTLS bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var cfg *tls.Config
	if withTLS {
		certFile, keyFile, _ := testCert(t)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	keywords := "250-fake.test\r\n250-8bitmime\r\n250-pipelining \r\n250-size 1000 \r\n250-chunking\r\n250-dsn\r\n" +
		"250-requiretls\r\n250-auth  plain login\r\n250-xshadow 14 \r\n250 smtputf8 \r\n"
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { c.Close() }()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var conn net.Conn = c
		r := bufio.NewReader(conn)
		conn.Write([]byte("220 fake.test ESMTP\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"):
				if cfg != nil {
					if _, ok := conn.(*tls.Conn); !ok {
						conn.Write([]byte("250-fake.test\r\n250-starttls \r\n250 8bitmime\r\n"))
						continue
					}
				}
				conn.Write([]byte(keywords))
			case cmd == "STARTTLS":
				conn.Write([]byte("220 2.0.0 go ahead\r\n"))
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				conn, r = tc, bufio.NewReader(tc)
			case strings.HasPrefix(cmd, "XSHADOW "):
				conn.Write([]byte("250 0123456789abcdef mark=7 \r\n"))
			case cmd == "QUIT":
				conn.Write([]byte("221 bye\r\n"))
				return
			default:
				conn.Write([]byte("502 5.5.1 no\r\n"))
			}
		}
	}()
	return ln.Addr().String()
}

// A next hop's extension keywords are read without letter case and
// whitespace around them (RFC 5321 §2.4: keywords are case-insensitive;
// SMTP-1, rt16d F2): 8BITMIME, SIZE with its limit, SMTPUTF8,
// PIPELINING, CHUNKING, DSN, REQUIRETLS, the AUTH mechanisms, the XSHADOW
// version and STARTTLS, over a plain session and after STARTTLS alike.
func TestNextHopKeywordsAnyCase(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		addr := ehloKeywordsNextHop(t, withTLS)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		o := ClientOptions{LocalName: "hub.test", TLS: TLSNone, CommandTimeout: 5 * time.Second}
		if withTLS {
			o.TLS = TLSRequired
		}
		c, err := NewClient(context.Background(), nc, o)
		if err != nil {
			t.Fatalf("tls %v: %v", withTLS, err)
		}
		if c.TLS != withTLS {
			t.Errorf("tls %v: session TLS %v", withTLS, c.TLS)
		}
		for _, k := range []string{"8BITMIME", "SMTPUTF8", "PIPELINING", "CHUNKING", "DSN", "REQUIRETLS", "XSHADOW", "AUTH", "SIZE"} {
			if ok, _ := c.Extension(k); !ok {
				t.Errorf("tls %v: %s not seen", withTLS, k)
			}
		}
		if n, ok := c.MaxMessageSize(); !ok || n != 1000 {
			t.Errorf("tls %v: SIZE limit %d %v, want 1000", withTLS, n, ok)
		}
		if !c.SupportsAuth("PLAIN") || !c.SupportsAuth("LOGIN") {
			t.Errorf("tls %v: AUTH mechanisms not seen", withTLS)
		}
		if v := peerShadowVersion(c); v != min(14, ShadowVersion) {
			t.Errorf("tls %v: XSHADOW version %d", withTLS, v)
		}
		if got := c.BatchLimit(); got != 1000 {
			t.Errorf("tls %v: batch limit %d, want the SIZE 1000", withTLS, got)
		}
		// The peer's reply to XSHADOW is read the same way: its MARK=
		// parameter in any case, trailing whitespace dropped.
		var mark uint64
		c.OnMark = func(_ string, m, _ uint64, _ string) { mark = m }
		if id, err := c.Shadow("hub.test"); err != nil || id != "0123456789abcdef" || mark != 7 {
			t.Errorf("tls %v: XSHADOW reply read as %q %v, mark %d", withTLS, id, err, mark)
		}
		c.Close()
	}
}
