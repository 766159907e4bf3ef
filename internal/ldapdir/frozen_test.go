package ldapdir

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"umbra/internal/testsupport"
)

// freezableDirectory answers binds with success and searches with no
// entry until frozen: from then on it reads requests and answers none
// (a slapd stopped by SIGSTOP), binds or searches as frozenOp says.
func freezableDirectory(t *testing.T, frozenOp *atomic.Int32) string {
	t.Helper()
	s := testsupport.Serve(t, "127.0.0.215:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			for {
				p, err := ber.ReadPacket(c)
				if err != nil || len(p.Children) < 2 {
					return
				}
				id, _ := p.Children[0].Value.(int64)
				op := p.Children[1].Tag
				var tag ber.Tag
				switch op {
				case 0: // BindRequest
					tag = 1
				case 3: // SearchRequest
					tag = 5
				default:
					continue
				}
				if f := frozenOp.Load(); f == -1 || f == int32(op) {
					continue // never answered
				}
				if _, err := c.Write(ldapResponse(id, tag)); err != nil {
					return
				}
			}
		}()
	})
	return "ldap://" + s.Addr()
}

// A directory that stops answering (SIGSTOP) on connections umbra
// already holds is said once, "no answer within 300ms (ldap.timeout)",
// for an AUTH whose bind it holds and for a recipient lookup whose
// search it holds — never with the error go-ldap gives the request its
// own timeout ends ("LDAP Result Code 200 \"Network Error\": ldap:
// connection timed out"), whichever of the two reaches the wrapping
// first.
func TestTimeoutSaidOnceWhenDirectoryFreezes(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var frozen atomic.Int32
	url := freezableDirectory(t, &frozen)
	d, err := New(Config{URL: url, BaseDN: "dc=example,dc=org", BindDN: "cn=umbra,dc=example,dc=org",
		BindPassword: "secret", AccountFilter: "(uid=%s)", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want ErrUnavailable and a timeout", what, err)
		}
		if !strings.HasSuffix(err.Error(), "no answer within 300ms (ldap.timeout)") || strings.Count(err.Error(), "within") != 1 ||
			strings.Contains(err.Error(), "LDAP Result Code") {
			t.Errorf("%s worded %q", what, err)
		}
	}
	frozen.Store(99)
	if _, err := d.Authenticate(context.Background(), "alice", "pw"); !errors.Is(err, ErrBadCredentials) { // both connections made
		t.Fatalf("warm-up AUTH: %v", err)
	}
	frozen.Store(0) // binds held
	for i := range 6 {
		_, err := d.Authenticate(context.Background(), "alice", "pw")
		check("AUTH "+string(rune('0'+i)), err)
		frozen.Store(99)
		d.Authenticate(context.Background(), "alice", "pw") // a fresh auth connection, bound
		frozen.Store(0)
	}
	frozen.Store(3) // searches held
	for i := range 4 {
		_, err := d.Lookup(context.Background(), "bob"+string(rune('a'+i))+"@example.org")
		check("lookup", err)
	}

	// Questions at once, one connection under them all: one's timeout
	// closes it under the others.
	for _, op := range []int32{0, 3} {
		// A directory of its own for each round: the round before may
		// have left it marked down (its timed-out dial), and a question
		// then is refused at once without asking (CI run 116).
		d, err := New(Config{URL: url, BaseDN: "dc=example,dc=org", BindDN: "cn=umbra,dc=example,dc=org",
			BindPassword: "secret", AccountFilter: "(uid=%s)", Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		frozen.Store(99)
		d.Authenticate(context.Background(), "alice", "pw")
		frozen.Store(op)
		errs := make(chan error, 8)
		for i := range 8 {
			go func() {
				if op == 0 {
					_, err := d.Authenticate(context.Background(), "alice", "pw")
					errs <- err
					return
				}
				_, err := d.Lookup(context.Background(), "carol"+string(rune('a'+i))+"@example.org")
				errs <- err
			}()
		}
		timeouts := 0
		for range 8 {
			err := <-errs
			if errors.Is(err, ErrUnavailable) && strings.HasSuffix(err.Error(), "directory unreachable (retrying shortly)") {
				// A question that began after another's timed-out dial
				// marked the directory down (a slow start under the race
				// detector, CI run 116): the fast refusal, no library
				// error either.
				continue
			}
			check("at once", err)
			timeouts++
		}
		if timeouts == 0 {
			t.Errorf("op %d: no question of 8 at once was said as the timeout", op)
		}
	}

	// The wrapping itself, given the library's error for its own
	// timeout at the question's deadline (the race's other outcome).
	own := time.Now().Add(-time.Millisecond)
	lib := ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection timed out"))
	check("the library's timeout", d.unavailable(context.Background(), own, lib))
	parent, cancel := context.WithDeadline(context.Background(), own.Add(-time.Millisecond))
	defer cancel()
	<-parent.Done()
	if err := d.unavailable(parent, own, lib); err.Error() != ErrUnavailable.Error()+": cut off by the caller before an answer (context deadline exceeded)" {
		t.Errorf("cut off by the caller, the library's timeout first: %q", err)
	}
}
