package ldapdir

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// A directory's reply is read up to MaxPacketBytes: a search reply that
// announces a packet of 1 GiB (and streams filler behind the header) is
// an error at its header — the lookup ErrUnavailable at once, the
// connection dropped — not an allocation that grows with what the
// directory sends until the timeout.
func TestDirectoryPacketSizeBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const filler = 64 << 20 // bounded: what the fake directory sends at most
	var sent atomic.Int64
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		p, err := ber.ReadPacket(c) // the search request
		if err != nil || len(p.Children) < 1 {
			return
		}
		id, _ := p.Children[0].Value.(int64)
		// LDAPMessage of 1 GiB: message id, then a SearchResultEntry and
		// an OCTET STRING each announcing nearly as much.
		hdr := []byte{0x30, 0x84, 0x40, 0x00, 0x00, 0x00, 0x02, 0x01, byte(id),
			0x64, 0x84, 0x3f, 0x00, 0x00, 0x00, 0x04, 0x84, 0x3e, 0x00, 0x00, 0x00}
		if _, err := c.Write(hdr); err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for sent.Load() < filler {
			c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			n, err := c.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
		c.Read(make([]byte, 1)) // hold until the client goes
	}()
	d, err := New(Config{URL: "ldap://" + ln.Addr().String(), BaseDN: "dc=example,dc=org",
		DatabaseAttribute: "umbraMailboxDatabase", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, _, err = d.MailboxDatabase(context.Background(), "alice@example.org")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), strconv.Itoa(MaxPacketBytes)) {
		t.Fatalf("lookup answered with a 1 GiB packet: %v, want ErrUnavailable naming the bound, not a timeout", err)
	}
	d.Close()
	select {
	case <-served:
	case <-time.After(30 * time.Second):
		t.Fatal("the fake directory was never let go")
	}
	// The connection was dropped at the header: the directory could not
	// push its filler (socket buffers take a few MiB at most).
	if n := sent.Load(); n >= filler {
		t.Fatalf("the client read %d bytes of a packet over the bound", n)
	}
}
