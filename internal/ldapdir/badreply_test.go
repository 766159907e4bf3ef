package ldapdir

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// A directory that answers a search with a reply umbra cannot read is
// said so in umbra's words, true to what happened — a reply that is no
// LDAP message ("sent a malformed reply"), one announcing more than
// MaxPacketBytes ("sent a reply larger than …"), the connection closed
// instead of an answer ("closed the connection") — never "no answer
// within …s (ldap.timeout)" for a server that answered at once, nor the
// library's "unable to read LDAP response packet: EOF". Each is still
// the directory unable to answer (451 4.4.3: ErrUnavailable). Over a
// StartTLS connection as over a plain one.
func TestBadDirectoryReplySaidInWords(t *testing.T) {
	cert := selfSigned(t)
	for i, c := range []struct {
		name  string
		reply func(id byte) []byte // nil: close the connection
		words string
	}{
		{"broken BER body", func(id byte) []byte { return []byte{0x30, 0x05, 0x02, 0x01, id, 0xff, 0xff} }, "the directory server sent a malformed reply"},
		{"no protocol op", func(id byte) []byte { return []byte{0x30, 0x03, 0x02, 0x01, id} }, "the directory server sent a malformed reply"},
		{"2 GiB length", func(id byte) []byte { return []byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, id} }, "the directory server sent a reply larger than 8388608 bytes"},
		{"closed", nil, "the directory server closed the connection"},
	} {
		for j, starttls := range []bool{false, true} {
			t.Run(c.name+map[bool]string{false: "", true: " (StartTLS)"}[starttls], func(t *testing.T) {
				addr := net.JoinHostPort("127.0.0.125", itoa(39421+2*i+j))
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				go func() {
					for {
						conn, err := ln.Accept()
						if err != nil {
							return
						}
						go func() {
							defer conn.Close()
							conn.SetDeadline(time.Now().Add(30 * time.Second))
							if starttls {
								p, err := ber.ReadPacket(conn) // the StartTLS request
								if err != nil || len(p.Children) < 1 {
									return
								}
								id, _ := p.Children[0].Value.(int64)
								// ExtendedResponse: success, no matched DN, no message
								conn.Write([]byte{0x30, 0x0c, 0x02, 0x01, byte(id), 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00})
								tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
								if tc.Handshake() != nil {
									return
								}
								conn = tc
							}
							p, err := ber.ReadPacket(conn) // the search request
							if err != nil || len(p.Children) < 1 {
								return
							}
							id, _ := p.Children[0].Value.(int64)
							if c.reply == nil {
								return
							}
							conn.Write(c.reply(byte(id)))
							conn.Read(make([]byte, 1)) // hold until the client goes
						}()
					}
				}()
				d, err := New(Config{URL: "ldap://" + addr, StartTLS: starttls, TLS: &tls.Config{InsecureSkipVerify: true},
					BaseDN: "dc=example,dc=org", RecipientFilter: "(mail=%s)", Timeout: 20 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				_, err = d.Lookup(context.Background(), "alice@example.org")
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
					!strings.Contains(err.Error(), c.words) || strings.Contains(err.Error(), "unable to read LDAP response packet") {
					t.Fatalf("lookup: %v, want ErrUnavailable saying %q", err, c.words)
				}
			})
		}
	}
}

// selfSigned is a certificate for the fake directory's StartTLS.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.125"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
