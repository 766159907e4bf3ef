package ldapdir

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
)

// EDGE-1, SMTP-4: ldap.url at 0.0.0.0 or :: is refused at load, but a
// host name there resolving to the unspecified address was connected to
// at each lookup — reaching this machine itself (here a listener on
// loopback that is no directory). The name is refused when looked up:
// its unspecified addresses are never connected to, and one with no
// other fails the dial naming it (the lookup: ErrUnavailable, 451).
func TestSMTP4LDAPNameResolvingToUnspecifiedRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, unspecified := range []string{"0.0.0.0", "::", "::ffff:0.0.0.0"} {
		d, err := New(Config{URL: "ldap://dir.test:" + port, BaseDN: "dc=example,dc=org"})
		if err != nil {
			t.Fatal(err)
		}
		d.lookupHost = func(ctx context.Context, host string) ([]string, error) { return []string{unspecified}, nil }
		c, err := d.connect(time.Now().Add(2*time.Second), "dir.test", port)
		if c != nil {
			c.Close()
		}
		var ue *config.UnspecifiedNameError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "host name dir.test resolves to "+unspecified+", the unspecified address") {
			t.Errorf("directory host resolving to %s: connected %v, err %v; want refused naming the name and the address", unspecified, c != nil, err)
		}
	}
}
