package ldapdir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"umbra/internal/clock"
	"umbra/internal/ldapdir/slapdtest"
	"umbra/internal/recipients"
)

// testLDIF is the small directory every test loads: two people (alice
// with a mailbox database), a transport server account and umbra's
// service account.
func testLDIF() string {
	return fmt.Sprintf(`dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,%[1]s
objectClass: inetOrgPerson
objectClass: umbraRecipient
uid: alice
cn: Alice
sn: A
mail: alice@example.org
mail: Alice.Alias@example.org
umbraMailboxDatabase: DB2
userPassword: %[2]s

dn: uid=bob,ou=people,%[1]s
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
mail: bob@example.org
userPassword: %[3]s

dn: uid=hub1,ou=people,%[1]s
objectClass: inetOrgPerson
objectClass: umbraTransportServer
uid: hub1
cn: hub1
sn: hub1
userPassword: %[4]s

dn: cn=umbra,%[1]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: umbra
userPassword: %[5]s
`, slapdtest.Suffix, slapdtest.SSHA("alice-pw"), slapdtest.SSHA("bob-pw"), slapdtest.SSHA("hub1-pw"), slapdtest.SSHA("service-pw"))
}

type fixture struct {
	srv *slapdtest.Server
	dir *Directory
	clk *clock.Fake
	reg *prometheus.Registry
}

func newFixture(t *testing.T, ip string) *fixture {
	t.Helper()
	srv := slapdtest.Start(t, ip, []string{"umbra.schema"}, testLDIF())
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	d, err := New(Config{URL: srv.URL, BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: slapdtest.Suffix,
		RecipientFilter: "(mail=%s)", DatabaseAttribute: "umbraMailboxDatabase",
		AccountFilter: "(&(objectClass=inetOrgPerson)(uid=%s))", ServerAccountFilter: "(objectClass=umbraTransportServer)",
		Timeout: 5 * time.Second, PositiveTTL: 10 * time.Minute, NegativeTTL: time.Minute, CacheSize: 100,
		Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &fixture{srv: srv, dir: d, clk: clk, reg: reg}
}

func (f *fixture) expect(t *testing.T, addr string, want recipients.Verdict) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := f.dir.Lookup(ctx, addr)
	if got != want {
		t.Fatalf("Lookup(%s) = %v (%v), want %v", addr, got, err, want)
	}
	if got == recipients.CannotDecide && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Lookup(%s): CannotDecide with %v, want ErrUnavailable", addr, err)
	}
}

func TestSlapdRecipients(t *testing.T) {
	f := newFixture(t, "127.0.0.71")
	f.expect(t, "alice@example.org", recipients.Known)
	f.expect(t, "ALICE@Example.ORG", recipients.Known) // mail is case-insensitive (cached key too)
	f.expect(t, "alice.alias@example.org", recipients.Known)
	f.expect(t, "bob@example.org", recipients.Known)
	f.expect(t, "nobody@example.org", recipients.Unknown)
	// Filter metacharacters are escaped: a wildcard is not a match-all,
	// and a parenthesis cannot close the filter early.
	f.expect(t, "*@example.org", recipients.Unknown)
	f.expect(t, "a*", recipients.Unknown)
	f.expect(t, "x)(mail=*", recipients.Unknown)
	if got := testutil.ToFloat64(f.dir.m.lookups.WithLabelValues("cache")); got != 1 {
		t.Fatalf("cache hits = %v, want 1 (the upper-case alice)", got)
	}
	if got := testutil.ToFloat64(f.dir.m.reconnects.WithLabelValues("connected")); got != 1 {
		t.Fatalf("connections = %v, want 1 (one connection reused for every search)", got)
	}
}

func TestSlapdDownUsesCacheThenTempfails(t *testing.T) {
	f := newFixture(t, "127.0.0.72")
	f.expect(t, "alice@example.org", recipients.Known)
	f.expect(t, "nobody@example.org", recipients.Unknown)
	f.srv.Stop()
	// Within their TTLs the cached answers decide while slapd is down.
	f.clk.Advance(30 * time.Second)
	f.expect(t, "alice@example.org", recipients.Known)
	f.expect(t, "nobody@example.org", recipients.Unknown)
	// An address never asked cannot be decided: never accept-all.
	f.expect(t, "bob@example.org", recipients.CannotDecide)
	// Past the negative TTL, the negative answer is gone too.
	f.clk.Advance(31 * time.Second)
	f.expect(t, "nobody@example.org", recipients.CannotDecide)
	// Past the positive TTL, so is the positive one.
	f.clk.Advance(10 * time.Minute)
	f.expect(t, "alice@example.org", recipients.CannotDecide)
	// slapd back: the dead connection is replaced.
	f.srv.Restart()
	f.clk.Advance(redialPause)
	f.expect(t, "alice@example.org", recipients.Known)
	f.expect(t, "bob@example.org", recipients.Known)
}

func TestSlapdReconnectAfterRestart(t *testing.T) {
	f := newFixture(t, "127.0.0.73")
	f.expect(t, "alice@example.org", recipients.Known)
	f.srv.Stop()
	f.srv.Restart()
	// The kept connection died with the old slapd: the lookup finds out,
	// dials again and answers without a CannotDecide in between.
	f.expect(t, "bob@example.org", recipients.Known)
	if got := testutil.ToFloat64(f.dir.m.reconnects.WithLabelValues("connected")); got != 2 {
		t.Fatalf("connections = %v, want 2", got)
	}
}

func TestSlapdAccounts(t *testing.T) {
	f := newFixture(t, "127.0.0.74")
	ctx := context.Background()
	for _, tc := range []struct {
		name, pw string
		server   bool
		err      error
	}{
		{"alice", "alice-pw", false, nil},
		{"hub1", "hub1-pw", true, nil},
		{"alice", "wrong", false, ErrBadCredentials},
		{"alice", "", false, ErrBadCredentials}, // never an unauthenticated bind
		{"nobody", "alice-pw", false, ErrBadCredentials},
		{"*", "alice-pw", false, ErrBadCredentials},
		{"alice", "alice-pw", false, nil}, // the bind connection is reused after failures
	} {
		server, err := f.dir.Authenticate(ctx, tc.name, tc.pw)
		if !errors.Is(err, tc.err) || (err == nil && server != tc.server) {
			t.Fatalf("Authenticate(%s) = %v, %v; want %v, %v", tc.name, server, err, tc.server, tc.err)
		}
	}
	f.srv.Stop()
	if _, err := f.dir.Authenticate(ctx, "alice", "alice-pw"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Authenticate with slapd down = %v, want ErrUnavailable", err)
	}
}

func TestSlapdMailboxDatabase(t *testing.T) {
	f := newFixture(t, "127.0.0.75")
	ctx := context.Background()
	for _, tc := range []struct {
		addr, db string
		found    bool
	}{{"alice@example.org", "DB2", true}, {"Alice.Alias@example.org", "DB2", true}, {"bob@example.org", "", false}, {"nobody@example.org", "", false}} {
		db, found, err := f.dir.MailboxDatabase(ctx, tc.addr)
		if err != nil || db != tc.db || found != tc.found {
			t.Fatalf("MailboxDatabase(%s) = %q, %v, %v; want %q, %v", tc.addr, db, found, err, tc.db, tc.found)
		}
	}
	f.srv.Stop()
	if _, _, err := f.dir.MailboxDatabase(ctx, "carol@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("MailboxDatabase with slapd down: %v, want ErrUnavailable", err)
	}
}

// TLS: ldaps:// and StartTLS verify slapd's certificate against the
// configured CA; without it (system roots) the connection is refused
// and the lookup cannot decide.
func TestSlapdTLS(t *testing.T) {
	srv := slapdtest.StartTLS(t, "127.0.0.76", []string{"umbra.schema"}, testLDIF())
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM) {
		t.Fatal("no CA")
	}
	for _, tc := range []struct {
		name     string
		url      string
		startTLS bool
		roots    *x509.CertPool
		want     recipients.Verdict
	}{
		{"ldaps", srv.LDAPSURL, false, pool, recipients.Known},
		{"starttls", srv.URL, true, pool, recipients.Known},
		{"ldaps, unknown CA", srv.LDAPSURL, false, x509.NewCertPool(), recipients.CannotDecide},
		{"starttls, unknown CA", srv.URL, true, x509.NewCertPool(), recipients.CannotDecide},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Config{URL: tc.url, StartTLS: tc.startTLS, TLS: &tls.Config{RootCAs: tc.roots},
				BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: slapdtest.Suffix,
				AccountFilter: "(uid=%s)", Timeout: 5 * time.Second, PositiveTTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if got, err := d.Lookup(ctx, "alice@example.org"); got != tc.want {
				t.Fatalf("Lookup = %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == recipients.Known {
				if _, err := d.Authenticate(ctx, "alice", "alice-pw"); err != nil {
					t.Fatalf("Authenticate over TLS: %v", err)
				}
			}
		})
	}
}

// Concurrent lookups and logins share the connections (run with -race):
// every answer is right, through a slapd restart in the middle.
func TestSlapdConcurrent(t *testing.T) {
	f := newFixture(t, "127.0.0.77")
	ctx := context.Background()
	run := func() {
		done := make(chan error, 8)
		for g := 0; g < 8; g++ {
			go func(g int) {
				for i := 0; i < 10; i++ {
					addr, want := "alice@example.org", recipients.Known
					if i%2 == 1 {
						addr, want = fmt.Sprintf("n%d-%d@example.org", g, i), recipients.Unknown
					}
					if v, err := f.dir.Lookup(ctx, addr); v != want {
						done <- fmt.Errorf("Lookup(%s) = %v, %v", addr, v, err)
						return
					}
					if g%4 == 0 {
						if _, err := f.dir.Authenticate(ctx, "bob", "bob-pw"); err != nil {
							done <- fmt.Errorf("Authenticate: %v", err)
							return
						}
					}
				}
				done <- nil
			}(g)
		}
		for g := 0; g < 8; g++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	f.srv.Stop()
	f.srv.Restart()
	f.clk.Advance(time.Hour) // nothing cached: every lookup goes to the new slapd
	run()
}

// The directory's equality rules match names loosely (uid ignores case
// and extra spaces): every variant binds as the same entry and comes
// back as the one identity stored in the DN, so nothing keyed on the
// user (rate limits, logs) can be split by retyping the name.
func TestSlapdAccountIdentityIsCanonical(t *testing.T) {
	f := newFixture(t, "127.0.0.79")
	ctx := context.Background()
	for _, name := range []string{"alice", "alice ", " alice", "alice  ", "ALICE ", "  Alice"} {
		user, server, err := f.dir.AuthenticateUser(ctx, name, "alice-pw")
		if err != nil || server || user != "alice" {
			t.Fatalf("AuthenticateUser(%q) = %q, %v, %v; want \"alice\", false, nil", name, user, server, err)
		}
	}
	if user, server, err := f.dir.AuthenticateUser(ctx, " HUB1", "hub1-pw"); err != nil || !server || user != "hub1" {
		t.Fatalf("AuthenticateUser(\" HUB1\") = %q, %v, %v; want the server account hub1", user, server, err)
	}
	// A wrong password for an account names the account (the log's
	// record of which account is guessed at, rt16 F1); a name that is no
	// account names nothing.
	if user, _, err := f.dir.AuthenticateUser(ctx, "alice ", "wrong"); !errors.Is(err, ErrBadCredentials) || user != "alice" {
		t.Fatalf("wrong password = %q, %v; want alice, bad credentials", user, err)
	}
	if user, _, err := f.dir.AuthenticateUser(ctx, "nobody", "wrong"); !errors.Is(err, ErrBadCredentials) || user != "" {
		t.Fatalf("unknown name = %q, %v", user, err)
	}
	for dn, want := range map[string]string{"uid=carol,ou=people,dc=x": "carol", "cn=Carol Smith+uid=c,dc=x": "Carol Smith", "bad": "bad"} {
		if got := Identity(dn); got != want {
			t.Errorf("Identity(%q) = %q, want %q", dn, got, want)
		}
	}
}

// The cache keys an address the way the directory's equality rule for
// mail matches it (case, leading, trailing and repeated spaces
// ignored): variants are one entry, so none of them can bypass a
// negative answer or fill the cache with copies.
func TestSlapdCacheKeyFoldsVariants(t *testing.T) {
	f := newFixture(t, "127.0.0.78")
	f.expect(t, "nobody@example.org", recipients.Unknown)
	f.expect(t, "NOBODY@example.org", recipients.Unknown)
	f.expect(t, "alice@example.org", recipients.Known)
	f.expect(t, "Alice@example.org", recipients.Known)
	// A variant with spaces is another address: its own entry, and
	// never the answer of the address it looks like (rt26 F1).
	f.expect(t, "Alice@example.org ", recipients.Unknown)
	f.expect(t, "\u00a0alice@example.org", recipients.Unknown)
	if got := testutil.ToFloat64(f.dir.m.lookups.WithLabelValues("cache")); got != 2 {
		t.Fatalf("cache hits = %v, want 2 (the ASCII case variants)", got)
	}
	if n := f.dir.cache.order.Len(); n != 4 {
		t.Fatalf("%d cache entries, want 4", n)
	}
}
