package ldapdir

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/clock"
	"umbra/internal/ldapdir/slapdtest"
	"umbra/internal/recipients"
)

// A search the directory answered with an error result is no answer: a
// wrong base_dn (noSuchObject, 32), a base that is a referral (10), a
// search whose only answer is a continuation reference to another
// server (a SearchResultReference umbra does not follow). None of them
// says the address has no entry: each is the directory unable to
// answer — 451 4.4.3 at RCPT (CannotDecide, ErrUnavailable), counted
// umbra_ldap_lookups_total{result="error"}, worded with the result
// code's name, and never cached (the next lookup asks again) —, never
// "550 5.1.1 user unknown" for every recipient of the domain. The
// account paths (AUTH's search by account_filter, a session's
// re-check of its account) are the same: a directory failure, never
// "no such account" (535, or a session's account gone). Only a search
// that succeeded with no entry is "not found" (TestSlapdRecipients).
func TestSlapdErrorResultIsNoAnswer(t *testing.T) {
	ldif := testLDIF() + `
dn: ou=elsewhere,` + slapdtest.Suffix + `
objectClass: referral
objectClass: extensibleObject
ou: elsewhere
ref: ldap://127.0.0.125:9499/ou=elsewhere,` + slapdtest.Suffix + `
`
	srv := slapdtest.Start(t, "127.0.0.125", []string{"umbra.schema"}, ldif)
	for _, tc := range []struct {
		name, base, addr, words string
		accounts                bool // the account paths fail too
	}{
		{"wrong base_dn", "ou=nowhere," + slapdtest.Suffix, "alice@example.org", "the directory answered result 32 (No Such Object)", true},
		{"base is a referral", "ou=elsewhere," + slapdtest.Suffix, "alice@example.org", "the directory answered result 10 (Referral)", true},
		// nobody@ has no entry in the rest of the tree; ou=elsewhere's
		// server may hold one (alice is found, so her AUTH is answered).
		{"only a continuation reference", slapdtest.Suffix, "nobody@example.org", "the directory answered result 10 (Referral): only a reference to ldap://127.0.0.125:9499/", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			d, err := New(Config{URL: srv.URL, BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: tc.base,
				RecipientFilter: "(mail=%s)", AccountFilter: "(&(objectClass=inetOrgPerson)(uid=%s))",
				Timeout: 5 * time.Second, PositiveTTL: 10 * time.Minute, NegativeTTL: time.Minute, CacheSize: 100,
				Clock: clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)), Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			ctx := context.Background()
			addr := tc.addr
			for range 2 { // never cached: asked, and failed, both times
				v, err := d.Lookup(ctx, addr)
				if v != recipients.CannotDecide || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.words) {
					t.Fatalf("Lookup(%s) = %v, %v; want CannotDecide, ErrUnavailable naming %q", addr, v, err, tc.words)
				}
			}
			for result, want := range map[string]float64{"error": 2, "not_found": 0, "cache": 0} {
				if got := testutil.ToFloat64(d.m.lookups.WithLabelValues(result)); got != want {
					t.Errorf("lookups{result=%q} = %v, want %v", result, got, want)
				}
			}
			if !tc.accounts {
				return
			}
			if _, err := d.Authenticate(ctx, "alice", "alice-pw"); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBadCredentials) {
				t.Errorf("Authenticate = %v, want ErrUnavailable", err)
			}
			if found, _, err := d.Account(ctx, "alice", "alice"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Account = %v, %v, want ErrUnavailable", found, err)
			}
		})
	}
}
