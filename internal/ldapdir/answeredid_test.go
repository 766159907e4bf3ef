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

// staleIDDirectory is a confused directory (or a proxy mixing its
// connections' message ids): it answers the service bind rightly, and
// every search under the message id of the request before it on the
// connection — a request umbra sent and whose answer is complete
// already. closed receives once when umbra drops the connection.
func staleIDDirectory(t *testing.T) (url string, closed chan struct{}) {
	t.Helper()
	closed = make(chan struct{}, 4)
	s := testsupport.Serve(t, "127.0.0.175:10189", func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			var last int64
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
				case 3: // SearchRequest: "done, no entry", under the id before it
					c.Write(ldapResponse(last, 5))
				}
				last = id
			}
		}()
	})
	return "ldap://" + s.Addr(), closed
}

// SMTP-6: a directory that answers under the message id of a request
// umbra sent and whose answer it has read whole already (the bind's,
// answered; a search's, done) is said so at once — "sent a reply to
// message id 1, a request already answered" — and the connection is
// ended, as for an id umbra never sent (TestReplyToUnaskedMessageIDSaidAtOnce):
// go-ldap drops such a reply in silence, and the search it was meant
// for waited out ldap.timeout, logged as the directory not answering.
// The lookup is still the directory unable to answer (ErrUnavailable:
// 451 4.4.3, never acceptance). Seen to fail first: the lookup took the
// whole timeout and said "no answer within 10s (ldap.timeout)".
func TestReplyUnderAnsweredMessageIDSaidAtOnce(t *testing.T) {
	url, closed := staleIDDirectory(t)
	d, err := New(Config{URL: url, BindDN: "cn=umbra,dc=example,dc=org", BindPassword: "secret",
		BaseDN: "dc=example,dc=org", RecipientFilter: "(mail=%s)", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Lookup(context.Background(), "alice@example.org")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "the directory server sent a reply to message id 1, a request already answered") ||
		strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("lookup: %v, want ErrUnavailable saying the reply's id was answered already", err)
	}
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("the connection that carried the reply under an answered id was kept")
	}
}

// staleBindDirectory answers searches rightly — alice's entry, uid
// alice — and each bind under the message id of the bind before it on
// the connection (the first one rightly): the second AUTH's bind on the
// kept bind connection gets a reply under an id already answered.
// Its Count is the connections accepted.
func staleBindDirectory(t *testing.T) *testsupport.Server {
	t.Helper()
	return testsupport.Serve(t, "127.0.0.175:10192", func(c net.Conn) {
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			var lastBind int64
			for {
				p, err := ber.ReadPacket(c)
				if err != nil || len(p.Children) < 2 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				switch p.Children[1].Tag {
				case 0: // BindRequest
					if lastBind == 0 {
						lastBind = id
					}
					c.Write(ldapResponse(lastBind, 1))
					lastBind = id
				case 3: // SearchRequest: alice's entry, then done
					msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
					msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
					entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "SearchResultEntry")
					entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=example,dc=org", "objectName"))
					attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attributes")
					attr := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attribute")
					attr.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid", "type"))
					vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
					vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "alice", "val"))
					attr.AppendChild(vals)
					attrs.AppendChild(attr)
					entry.AppendChild(attrs)
					msg.AppendChild(entry)
					c.Write(msg.Bytes())
					c.Write(ldapResponse(id, 5))
				}
			}
		}()
	})
}

// SMTP-8, SMTP-6: the AUTH's bind connection, kept for the next AUTH, is
// read through the same framer: a bind answered under the id of the
// bind before it (answered already) ends that connection at once, and
// the AUTH is tried once more on a new one (a reused connection found
// unusable), which this directory answers rightly — never the AUTH
// waiting out ldap.timeout and failing as the directory not answering.
// Seen to fail first: the second AUTH took the whole timeout, "no
// answer within 10s (ldap.timeout)".
func TestBindReplyUnderAnsweredMessageIDEndsConnectionAtOnce(t *testing.T) {
	s := staleBindDirectory(t)
	d, err := New(Config{URL: "ldap://" + s.Addr(), BaseDN: "dc=example,dc=org", AccountFilter: "(uid=%s)",
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := 1; i <= 2; i++ {
		if _, err := d.Authenticate(context.Background(), "alice", "secret"); err != nil {
			t.Fatalf("AUTH %d: %v, want it accepted", i, err)
		}
	}
	// The service connection, the first bind connection, and the one
	// the second AUTH was tried again on.
	if n := s.Count(); n != 3 {
		t.Fatalf("%d connections, want 3: the bind connection that carried the reply under an answered id was not replaced", n)
	}
}
