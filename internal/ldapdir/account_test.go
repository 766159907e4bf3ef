package ldapdir

import (
	"context"
	"errors"
	"testing"
	"time"
)

// SMTP-8 (EDGE-1 LDAP): Account says whether an identity that
// authenticated is still an account of the directory, and a transport
// server's; a name that is not the entry's own identity is not; a
// directory that cannot answer is ErrUnavailable, never "not found".
func TestSlapdAccountStanding(t *testing.T) {
	f := newFixture(t, "127.0.0.151")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		user          string
		found, server bool
	}{
		{"alice", true, false}, {"hub1", true, true}, {"nobody", false, false}, {"ALICE", false, false}, {"", false, false},
	} {
		found, server, err := f.dir.Account(ctx, tc.user)
		if err != nil || found != tc.found || server != tc.server {
			t.Errorf("Account(%q) = %v, %v, %v; want %v, %v", tc.user, found, server, err, tc.found, tc.server)
		}
	}
	f.srv.Stop()
	if found, _, err := f.dir.Account(ctx, "alice"); !errors.Is(err, ErrUnavailable) || found {
		t.Fatalf("directory down: found %v, err %v; want ErrUnavailable", found, err)
	}
}
