package ldapdir

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"umbra/internal/testsupport"
)

// hungDirectory listens on a loopback port and accepts connections. With
// startTLS it answers the StartTLS request with success and then never
// says another byte (the TLS handshake hangs); without, it never
// answers at all. It returns the URL and a channel signalled at each
// accepted connection.
func hungDirectory(t *testing.T, startTLS bool) (string, <-chan struct{}) {
	t.Helper()
	var answer func(net.Conn)
	if startTLS {
		answer = func(c net.Conn) {
			go func() {
				p, err := ber.ReadPacket(c)
				if err != nil || len(p.Children) < 1 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				c.Write(ldapResponse(id, 24)) // Extended Response; then silence: the handshake never gets a ServerHello
			}()
		}
	}
	s := testsupport.Serve(t, "127.0.0.1:0", answer)
	return "ldap://" + s.Addr(), s.Accepted()
}

// ldapResponse is an LDAP response of application tag tag to message id:
// success, no matched DN, no diagnostic.
func ldapResponse(id int64, tag ber.Tag) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	resp := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "Response")
	resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "resultCode"))
	resp.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	resp.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diagnosticMessage"))
	msg.AppendChild(resp)
	return msg.Bytes()
}

// A directory that takes the connection and then hangs — after agreeing
// to StartTLS, or without a word — holds a lookup no longer than about
// its timeout, whatever the caller's context allows, and the lookup is
// an ErrUnavailable (the recipient waits, never a guess).
func TestLookupBoundedByTimeoutWhenDirectoryHangs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		startTLS bool // the directory agrees to StartTLS, then hangs
		client   bool // umbra asks for StartTLS
	}{
		{"silent", false, false},
		{"handshake", true, true},
		// StartTLS asked and never answered: the dial's deadline ends
		// the read of the reply, which go-ldap reports as a plain error
		// (its reader's, "unable to read LDAP response packet: … i/o
		// timeout"), once a slow reply on a loaded machine.
		{"starttls-unanswered", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, accepted := hungDirectory(t, tc.startTLS)
			d, err := New(Config{URL: url, StartTLS: tc.client, BaseDN: "dc=example,dc=org",
				DatabaseAttribute: "umbraMailboxDatabase", Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			done := make(chan error, 1)
			go func() {
				_, _, err := d.MailboxDatabase(context.Background(), "alice@example.org")
				done <- err
			}()
			select {
			case <-accepted:
			case <-time.After(30 * time.Second):
				t.Fatal("the directory was never connected to")
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("lookup of a hung directory: %v, want ErrUnavailable and a timeout", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the lookup of a hung directory did not end (timeout 300ms)")
			}
			// The next lookup is not held up behind the hung one either.
			go func() {
				_, _, err := d.MailboxDatabase(context.Background(), "bob@example.org")
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("second lookup: %v, want ErrUnavailable", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("a second lookup waited behind the hung one")
			}
		})
	}
}
