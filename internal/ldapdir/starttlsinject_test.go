package ldapdir

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"umbra/internal/recipients"
)

// TestStartTLSInjectedRepliesRefused (EDGE-1): bytes a directory (or a
// man in the middle) sends in clear after the StartTLS response — here
// a bind success and a search entry for alice, for every message id
// umbra could ask with — are never read as replies under TLS: umbra's
// StartTLS reads the response alone, so they meet the TLS handshake,
// which refuses them. The lookup cannot decide (no alice from the
// injection), and the bind password never crosses in clear.
func TestStartTLSInjectedRepliesRefused(t *testing.T) {
	cert := selfSigned(t)
	addr := "127.0.0.220:12611"
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var clear bytes.Buffer // every byte the client sent before a handshake held
	handshakes := 0
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				rec := &recordingConn{Conn: conn, mu: &mu, into: &clear}
				p, err := ber.ReadPacket(rec) // the StartTLS request
				if err != nil || len(p.Children) < 1 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				out := []byte{0x30, 0x0c, 0x02, 0x01, byte(id), 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}
				for mid := int64(1); mid <= 4; mid++ {
					out = append(out, injected(mid)...)
				}
				conn.Write(out) // the response and the injection in one segment
				tc := tls.Server(rec, &tls.Config{Certificates: []tls.Certificate{cert}})
				if tc.Handshake() != nil {
					return
				}
				mu.Lock()
				handshakes++
				mu.Unlock()
				tc.Read(make([]byte, 1))
			}()
		}
	}()
	d, err := New(Config{URL: "ldap://" + addr, StartTLS: true, TLS: &tls.Config{InsecureSkipVerify: true},
		BindDN: "cn=umbra,dc=example,dc=org", BindPassword: "service-pw-in-clear",
		BaseDN: "dc=example,dc=org", RecipientFilter: "(mail=%s)", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Lookup(context.Background(), "alice@example.org")
	if got != recipients.CannotDecide || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lookup after an injected StartTLS reply: %v (%v), want CannotDecide", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if handshakes != 0 {
		t.Fatalf("the TLS handshake completed with the injected bytes in front of it")
	}
	if bytes.Contains(clear.Bytes(), []byte("service-pw-in-clear")) {
		t.Fatalf("the bind password was sent in clear")
	}
}

// injected is a bind success, a search entry for alice and a search
// success, all for message id mid.
func injected(mid int64) []byte {
	msg := func(op *ber.Packet) []byte {
		p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, mid, ""))
		p.AppendChild(op)
		return p.Bytes()
	}
	result := func(tag ber.Tag) *ber.Packet {
		op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
		op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, ""))
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		return op
	}
	entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
	entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=example,dc=org", ""))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attr := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attr.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "mail", ""))
	vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
	vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "alice@example.org", ""))
	attr.AppendChild(vals)
	attrs.AppendChild(attr)
	entry.AppendChild(attrs)
	var out []byte
	out = append(out, msg(result(ldap.ApplicationBindResponse))...)
	out = append(out, msg(entry)...)
	out = append(out, msg(result(ldap.ApplicationSearchResultDone))...)
	return out
}

// recordingConn keeps what the client sends on the raw connection.
type recordingConn struct {
	net.Conn
	mu   *sync.Mutex
	into *bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.into.Write(p[:n])
	c.mu.Unlock()
	return n, err
}
