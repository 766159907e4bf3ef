package ldapdir

import (
	"context"
	"errors"
	"testing"
	"time"

	"umbra/internal/ldapdir/slapdtest"
)

// SMTP-8 (EDGE-1 LDAP): Account says whether an account that
// authenticated (the name given, the identity returned) is still an
// account of the directory, and a transport server's; a name that is
// not that identity's entry is not; with an account_filter on another
// attribute than the entry's naming one ((mail=%s) for uid=bob) the
// name given is what is asked; a directory that cannot answer is
// ErrUnavailable, never "not found".
func TestSlapdAccountStanding(t *testing.T) {
	f := newFixture(t, "127.0.0.151")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, user    string
		found, server bool
	}{
		{"alice", "alice", true, false}, {"ALICE", "alice", true, false}, {"hub1", "hub1", true, true},
		{"nobody", "nobody", false, false}, {"alice", "bob", false, false}, {"", "alice", false, false},
	} {
		found, server, err := f.dir.Account(ctx, tc.name, tc.user)
		if err != nil || found != tc.found || server != tc.server {
			t.Errorf("Account(%q, %q) = %v, %v, %v; want %v, %v", tc.name, tc.user, found, server, err, tc.found, tc.server)
		}
	}
	byMail, err := New(Config{URL: f.srv.URL, BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: slapdtest.Suffix,
		AccountFilter: "(&(objectClass=inetOrgPerson)(mail=%s))", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer byMail.Close()
	user, _, err := byMail.AuthenticateUser(ctx, "bob@example.org", "bob-pw")
	if err != nil || user != "bob" {
		t.Fatalf("AUTH by mail: %q, %v", user, err)
	}
	if found, _, err := byMail.Account(ctx, "bob@example.org", user); !found || err != nil {
		t.Fatalf("an account found by its mail is not found again: %v, %v", found, err)
	}
	f.srv.Stop()
	if found, _, err := f.dir.Account(ctx, "alice", "alice"); !errors.Is(err, ErrUnavailable) || found {
		t.Fatalf("directory down: found %v, err %v; want ErrUnavailable", found, err)
	}
}
