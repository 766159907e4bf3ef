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

// slowDirectory answers every bind with success and every search with
// no entry, each after delay. It returns the URL.
func slowDirectory(t *testing.T, delay time.Duration) string {
	t.Helper()
	s := testsupport.Serve(t, "127.0.0.1:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			for {
				p, err := ber.ReadPacket(c)
				if err != nil || len(p.Children) < 2 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				var tag ber.Tag
				switch p.Children[1].Tag {
				case 0: // BindRequest
					tag = 1
				case 3: // SearchRequest
					tag = 5 // SearchResultDone, no entry before it
				default:
					continue // abandon, unbind
				}
				time.Sleep(delay)
				if _, err := c.Write(ldapResponse(id, tag)); err != nil {
					return
				}
			}
		}()
	})
	return "ldap://" + s.Addr()
}

// One timeout bounds a whole question — connection, service bind,
// search, reading the answer — not each step: a directory that takes
// 60% of the timeout for the bind and as much for the search has not
// answered in time, and the address is CannotDecide (the session's 451
// 4.4.3), not Unknown after 1.2 timeouts (SMTP-6). The same holds for
// an AUTH (search, then the user's bind).
func TestLookupOneTimeoutForTheWhole(t *testing.T) {
	const timeout = time.Second
	url := slowDirectory(t, 600*time.Millisecond)
	d, err := New(Config{URL: url, BaseDN: "dc=example,dc=org", BindDN: "cn=umbra,dc=example,dc=org", BindPassword: "secret",
		AccountFilter: "(uid=%s)", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, err := d.Lookup(context.Background(), "alice@example.org")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lookup against a directory slower than the timeout in sum: %v, %v; want ErrUnavailable and a timeout", v, err)
	}
	// rt19 fixc F4 sibling: the log says it in words.
	if !strings.Contains(err.Error(), "no answer within 1s (ldap.timeout)") {
		t.Errorf("lookup timeout worded %q", err)
	}
	// AUTH: the service bind, the search and the user's bind (to the
	// dummy entry: the directory found no one), 1.8 timeouts in all.
	d2, err := New(Config{URL: url, BaseDN: "dc=example,dc=org", BindDN: "cn=umbra,dc=example,dc=org", BindPassword: "secret",
		AccountFilter: "(uid=%s)", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	_, err = d2.Authenticate(context.Background(), "carol", "pw")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AUTH against a directory slower than the timeout in sum: %v; want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "no answer within 1s (ldap.timeout)") {
		t.Errorf("AUTH timeout worded %q", err)
	}
}

// mendx19 item 5: a timeout is said once. A directory whose service
// bind outlasts the whole question's timeout is "no answer within 1s
// (ldap.timeout)", not that and the dial's own "no answer within the
// timeout" inside it. A question the caller's shorter deadline cut off
// says so, not that the directory took ldap.timeout.
func TestLookupTimeoutSaidOnce(t *testing.T) {
	const timeout = time.Second
	d, err := New(Config{URL: slowDirectory(t, 1500*time.Millisecond), BaseDN: "dc=example,dc=org", BindDN: "cn=umbra,dc=example,dc=org", BindPassword: "secret",
		Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Lookup(context.Background(), "alice@example.org")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lookup against a directory whose bind outlasts the timeout: %v; want ErrUnavailable and a timeout", err)
	}
	if n := strings.Count(err.Error(), "within"); n != 1 || !strings.Contains(err.Error(), "no answer within 1s (ldap.timeout)") {
		t.Errorf("timeout said %d times: %q", n, err)
	}

	d2, err := New(Config{URL: slowDirectory(t, 600*time.Millisecond), BaseDN: "dc=example,dc=org", BindDN: "cn=umbra,dc=example,dc=org", BindPassword: "secret",
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = d2.Lookup(ctx, "bob@example.org")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lookup cut off by the caller's deadline: %v; want ErrUnavailable and a timeout", err)
	}
	if s := err.Error(); strings.Contains(s, "ldap.timeout") || !strings.Contains(s, "cut off by the caller") {
		t.Errorf("a lookup the caller's deadline cut off worded %q", s)
	}
}
