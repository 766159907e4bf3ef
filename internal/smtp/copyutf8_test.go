package smtp

import (
	"bytes"
	"errors"
	"net"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// noUTF8Conn hides the peer's SMTPUTF8 keyword from the client: a
// shadow server that does not offer it (its EHLO reply read through it).
type noUTF8Conn struct{ net.Conn }

func (c noUTF8Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	copy(p[:n], bytes.ReplaceAll(p[:n], []byte("SMTPUTF8"), []byte("XNOUTF8X")))
	return n, err
}

// SPEC SR-17 (shadow30 item 4): a shadow copy on receipt of a message
// received with SMTPUTF8 goes to a shadow server without SMTPUTF8 when
// nothing in it needs the extension — its sender, its recipients and
// its header section all ASCII —, as delivery decides for a next hop
// (RFC 6531 §3.2): sent without the parameter, alone (one round trip,
// version 5; pipelined, version 4) and as a batch record (no U flag).
// A copy whose sender, a recipient or a header field is not ASCII is
// refused (5.6.7) as before. Real SMTP over loopback to umbra's own
// receive side.
func TestSR17CopyOfASCIISMTPUTF8MessageToPeerWithoutSMTPUTF8(t *testing.T) {
	ascii := []byte("Subject: plain\r\n\r\nbody caf\xc3\xa9\r\n") // a body byte above 127: no header field, 8BITMIME's matter
	for _, v := range []int{5, 4} {
		peer, q := v5Peer(t)
		nc, err := net.Dial("tcp", peer.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(t.Context(), noUTF8Conn{nc}, ClientOptions{LocalName: "client.test", TLS: TLSNone, CommandTimeout: 20e9})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if ok, _ := c.Extension("SMTPUTF8"); ok {
			t.Fatal("the peer still offers SMTPUTF8 to the client")
		}
		if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Shadow("hub2"); err != nil {
			t.Fatal(err)
		}
		c.ShadowVersion = v
		m := &queue.Message{From: "a@example.org", UTF8: true, EightBit: true, OrgID: orgid.New(),
			Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}
		if rec, ok := c.CopyRecord(m, ascii); !ok {
			t.Errorf("version %d: an all-ASCII SMTPUTF8 message's copy goes in no batch record to a peer without SMTPUTF8", v)
		} else if bytes.Contains(rec[:bytes.IndexByte(rec, '\n')], []byte("U")) {
			t.Errorf("version %d: batch record %q asks SMTPUTF8 of a peer without it", v, rec[:bytes.IndexByte(rec, '\n')])
		}
		if err := c.PushCopy(m, ascii, "dbA"); err != nil {
			t.Fatalf("version %d: copy of an all-ASCII SMTPUTF8 message refused by a peer without SMTPUTF8: %v", v, err)
		}
		if len(q.copies) != 1 {
			t.Fatalf("version %d: %d copies kept, want 1", v, len(q.copies))
		}
		for _, c2 := range []struct {
			name string
			m    *queue.Message
			body []byte
		}{
			{"sender", &queue.Message{From: "jörg@example.org", UTF8: true, OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}, ascii},
			{"recipient", &queue.Message{From: "a@example.org", UTF8: true, OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "jörg@elsewhere.org"}}}, ascii},
			{"header", &queue.Message{From: "a@example.org", UTF8: true, OrgID: orgid.New(), Rcpts: []queue.Recipient{{Addr: "x@elsewhere.org"}}}, []byte("Subject: caf\xc3\xa9\r\n\r\nbody\r\n")},
		} {
			if _, ok := c.CopyRecord(c2.m, c2.body); ok {
				t.Errorf("version %d: copy with a non-ASCII %s goes in a batch record to a peer without SMTPUTF8", v, c2.name)
			}
			err := c.PushCopy(c2.m, c2.body, "dbA")
			var se *gosmtp.SMTPError
			if !errors.As(err, &se) || se.EnhancedCode != (gosmtp.EnhancedCode{5, 6, 7}) {
				t.Errorf("version %d: copy with a non-ASCII %s to a peer without SMTPUTF8: %v, want 5.6.7", v, c2.name, err)
			}
		}
		if len(q.copies) != 1 {
			t.Errorf("version %d: %d copies kept, want 1", v, len(q.copies))
		}
	}
}
