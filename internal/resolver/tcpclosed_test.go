package resolver_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// EDGE (RFC 7766 §6.2.1, RFC 1035 §4.2.2): a server that closes the TCP
// connection before its whole reply is said so in umbra's words
// ("malformed reply: the server closed the TCP connection after 20 of
// its reply's 100 bytes"), never as the bare "EOF" or "unexpected EOF"
// the read gave, and a truncated UDP reply whose records are cut where
// the truncation fell (TC set) is asked again over TCP, as a truncated
// reply is, not failed as one the DNS library cannot parse. A server on
// loopback: its UDP replies truncated, its TCP side per name.
func TestTCPReplyCutSaidInWords(t *testing.T) {
	const addr = "127.0.0.127:10550"
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // UDP: TC set, an answer record cut inside its header
		b := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(b[:n]) != nil {
				continue
			}
			r := new(dns.Msg)
			r.SetReply(q)
			r.Truncated = true
			p, _ := r.Pack()
			p[7] = 1
			pc.WriteTo(append(p, 0xc0, 12, 0, 15, 0, 1, 0, 0), from)
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				b := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				q := new(dns.Msg)
				if q.Unpack(b) != nil {
					return
				}
				switch q.Question[0].Name {
				case "eof.test.": // closed before any reply
				case "cut.test.": // 20 of 100 bytes
					c.Write(append([]byte{0, 100}, make([]byte, 20)...))
				default:
					r := new(dns.Msg)
					r.SetReply(q)
					mx, _ := dns.NewRR(q.Question[0].Name + " 60 IN MX 10 mx.whole.test.")
					r.Answer = append(r.Answer, mx)
					p, _ := r.Pack()
					c.Write(append([]byte{byte(len(p) >> 8), byte(len(p))}, p...))
				}
			}()
		}
	}()
	c := newClient(t, addr)
	ctx := context.Background()
	if mx, err := c.LookupMX(ctx, "whole.test"); err != nil || len(mx) != 1 || mx[0].Host != "mx.whole.test." {
		t.Errorf("a truncated UDP reply cut inside a record: %v %v, want the TCP answer", mx, err)
	}
	for _, tc := range []struct{ name, want string }{
		{"eof.test", "malformed reply: the server closed the TCP connection before its reply"},
		{"cut.test", "malformed reply: the server closed the TCP connection after 20 of its reply's 100 bytes"},
	} {
		_, err := c.LookupMX(ctx, tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.HasSuffix(err.Error(), "EOF") {
			t.Errorf("MX %s: %v, want %q", tc.name, err, tc.want)
			continue
		}
		if de := dnsErr(t, err); !de.IsTemporary || de.IsNotFound {
			t.Errorf("MX %s: %+v, want a temporary failure", tc.name, de)
		}
	}
}
