package ldapdir

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/ldapdir/slapdtest"
	"umbra/internal/recipients"
)

// An internationalised domain is one domain in either form: an entry
// holding its address with the A-label (mail is IA5, so it can hold no
// other) is found for the U-label address, and one holding the U-label
// (a DirectoryString such as cn) for the A-label address, in any case,
// with the entry's database; a lookaalike the directory would fold
// (KELVIN SIGN) is still nobody's.
func TestSlapdIDNAddressInEitherForm(t *testing.T) {
	ldif := fmt.Sprintf(`dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: uid=bob,ou=people,%[1]s
objectClass: inetOrgPerson
objectClass: umbraRecipient
uid: bob
cn: Bob
sn: B
mail: bob@xn--bcher-kva.example
umbraMailboxDatabase: db-bob

dn: uid=anna,ou=people,%[1]s
objectClass: inetOrgPerson
objectClass: umbraRecipient
uid: anna
cn: anna@bücher.example
sn: A
mail: anna@example.org
umbraMailboxDatabase: db-anna

dn: uid=kim,ou=people,%[1]s
objectClass: inetOrgPerson
uid: kim
cn: kim@kiosk.example
sn: K

dn: cn=umbra,%[1]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: umbra
userPassword: %[2]s
`, slapdtest.Suffix, slapdtest.SSHA("service-pw"))
	srv := slapdtest.Start(t, "127.0.0.88", []string{"umbra.schema"}, ldif)
	d, err := New(Config{URL: srv.URL, BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: slapdtest.Suffix,
		RecipientFilter: "(|(mail=%s)(cn=%s))", DatabaseAttribute: "umbraMailboxDatabase",
		Timeout: 5 * time.Second, PositiveTTL: 10 * time.Minute, NegativeTTL: time.Minute, CacheSize: 100,
		Clock: clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct {
		addr string
		want recipients.Verdict
		db   string
	}{
		{"bob@xn--bcher-kva.example", recipients.Known, "db-bob"},
		{"bob@bücher.example", recipients.Known, "db-bob"},
		{"BOB@BÜCHER.example", recipients.Known, "db-bob"},
		{"anna@bücher.example", recipients.Known, "db-anna"},
		{"anna@XN--BCHER-KVA.example", recipients.Known, "db-anna"},
		{"carl@bücher.example", recipients.Unknown, ""},
		{"kim@\u212aiosk.example", recipients.Unknown, ""}, // KELVIN SIGN: not an IDN of kiosk.example
	} {
		got, err := d.Lookup(ctx, c.addr)
		if got != c.want {
			t.Errorf("Lookup(%q) = %v (%v), want %v", c.addr, got, err, c.want)
			continue
		}
		if db, _, err := d.MailboxDatabase(ctx, c.addr); db != c.db {
			t.Errorf("MailboxDatabase(%q) = %q (%v), want %q", c.addr, db, err, c.db)
		}
		if db, _, known := d.CachedMailboxDatabase(c.addr); !known || db != c.db {
			t.Errorf("CachedMailboxDatabase(%q) = %q, %v", c.addr, db, known)
		}
	}
}
