package ldapdir

import (
	"context"
	"errors"
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
// the directory unable to answer (451 4.4.3: ErrUnavailable).
func TestBadDirectoryReplySaidInWords(t *testing.T) {
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
		t.Run(c.name, func(t *testing.T) {
			addr := "127.0.0.125:" + []string{"39421", "39422", "39423", "39424"}[i]
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
			d, err := New(Config{URL: "ldap://" + addr, BaseDN: "dc=example,dc=org", RecipientFilter: "(mail=%s)",
				Timeout: 20 * time.Second})
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
