package ldapdir

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"umbra/internal/testsupport"
)

// strayIDDirectory answers a search with an entry and its
// SearchResultDone, both under the search's message id plus 7: replies
// to a request umbra never sent. closed receives once when umbra drops
// the connection.
func strayIDDirectory(t *testing.T) (url string, closed chan struct{}) {
	t.Helper()
	closed = make(chan struct{}, 4)
	s := testsupport.Serve(t, "127.0.0.175:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			for {
				p, err := ber.ReadPacket(c)
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
						closed <- struct{}{}
					}
					return
				}
				if len(p.Children) < 2 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				switch p.Children[1].Tag {
				case 0: // BindRequest
					c.Write(ldapResponse(id, 1))
				case 3: // SearchRequest
					msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
					msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id+7, "MessageID"))
					entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "SearchResultEntry")
					entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=example,dc=org", "objectName"))
					attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attributes")
					attr := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attribute")
					attr.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "mail", "type"))
					vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
					vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "alice@example.org", "val"))
					attr.AppendChild(vals)
					attrs.AppendChild(attr)
					entry.AppendChild(attrs)
					msg.AppendChild(entry)
					c.Write(msg.Bytes())
					c.Write(ldapResponse(id+7, 5))
				}
			}
		}()
	})
	return "ldap://" + s.Addr(), closed
}

// A directory that answers under a message id umbra never sent (a
// broken or confused server, a proxy mixing connections) is said so at
// once — "sent a reply to message id …" — and the connection dropped,
// not left for go-ldap to discard the reply in silence while the search
// waits out ldap.timeout ("no answer within …"). The lookup is still the
// directory unable to answer (451 4.4.3: ErrUnavailable, SMTP-6).
func TestReplyToUnaskedMessageIDSaidAtOnce(t *testing.T) {
	url, closed := strayIDDirectory(t)
	d, err := New(Config{URL: url, BaseDN: "dc=example,dc=org", RecipientFilter: "(mail=%s)", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Lookup(context.Background(), "alice@example.org")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "the directory server sent a reply to message id ") || strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("lookup: %v, want ErrUnavailable saying the reply's id was never asked", err)
	}
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("the connection that carried the stray reply was kept")
	}
}
