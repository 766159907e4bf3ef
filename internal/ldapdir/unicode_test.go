package ldapdir

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"umbra/internal/clock"
	"umbra/internal/ldapdir/slapdtest"
	"umbra/internal/recipients"
)

// foldLDIF holds entries whose attributes the directory matches with
// Unicode case folding (cn and uid are DirectoryStrings under
// caseIgnoreMatch): kim's address is in cn too, and two entries share
// the uid dup.
func foldLDIF() string {
	return fmt.Sprintf(`dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=other,%[1]s
objectClass: organizationalUnit
ou: other

dn: uid=kim,ou=people,%[1]s
objectClass: inetOrgPerson
uid: kim
cn: kim@example.org
sn: K
mail: kim@example.org
userPassword: %[2]s

dn: uid=carol,ou=people,%[1]s
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C
mail: carol@example.org
userPassword: %[3]s

dn: uid=dup,ou=people,%[1]s
objectClass: inetOrgPerson
uid: dup
cn: dup
sn: D
userPassword: %[4]s

dn: uid=dup,ou=other,%[1]s
objectClass: inetOrgPerson
uid: dup
cn: dup
sn: D
userPassword: %[5]s

dn: cn=umbra,%[1]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: umbra
userPassword: %[6]s
`, slapdtest.Suffix, slapdtest.SSHA("kim-pw"), slapdtest.SSHA("carol-pw"), slapdtest.SSHA("dup-pw"),
		slapdtest.SSHA("other-dup-pw"), slapdtest.SSHA("service-pw"))
}

func newFoldFixture(t *testing.T, ip, recipientFilter, accountFilter string) *Directory {
	t.Helper()
	srv := slapdtest.Start(t, ip, []string{"umbra.schema"}, foldLDIF())
	d, err := New(Config{URL: srv.URL, BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: slapdtest.Suffix,
		RecipientFilter: recipientFilter, AccountFilter: accountFilter,
		Timeout: 5 * time.Second, PositiveTTL: 10 * time.Minute, NegativeTTL: time.Minute, CacheSize: 100,
		Clock: clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// A directory that folds Unicode case (cn under caseIgnoreMatch takes
// U+212A KELVIN SIGN for k) finds kim's entry for "\u212aim@…"; umbra
// folds ASCII only, so that address is nobody's: a hit counts only when
// a value of an attribute the filter names equals the address.
func TestSlapdUnicodeFoldedRecipientIsUnknown(t *testing.T) {
	d := newFoldFixture(t, "127.0.0.85", "(|(mail=%s)(cn=%s))", "(uid=%s)")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for addr, want := range map[string]recipients.Verdict{
		"kim@example.org":        recipients.Known,
		"KIM@Example.ORG":        recipients.Known,
		"\u212aim@example.org":   recipients.Unknown, // KELVIN SIGN
		"\u212aIM@example.org":   recipients.Unknown,
		"\uff4bim@example.org":   recipients.Unknown, // fullwidth k
		"nobody@example.org":     recipients.Unknown,
		" kim@example.org":       recipients.Unknown, // spaces the directory ignores make another address (rt26 F1)
		"\u00a0kim@example.org":  recipients.Unknown, // NO-BREAK SPACE
		"kim@example.org\u3000":  recipients.Unknown, // IDEOGRAPHIC SPACE
		"carol@example.org":      recipients.Known,
		"\uff43arol@example.org": recipients.Unknown,
	} {
		got, err := d.Lookup(ctx, addr)
		if got != want {
			t.Errorf("Lookup(%q) = %v (%v), want %v", addr, got, err, want)
		}
	}
}

// A login name the directory folds to an account (fullwidth letters,
// KELVIN SIGN) is not that account's name: it never authenticates, and
// a refusal still names the account it resolved to, so that the AUTH
// throttle counts every variant against the one account.
func TestSlapdUnicodeFoldedLoginIsRefused(t *testing.T) {
	d := newFoldFixture(t, "127.0.0.86", "(mail=%s)", "(|(uid=%s)(mail=%s))")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range []string{"\uff43arol", "c\uff41rol", "\uff23AROL"} {
		user, _, err := d.AuthenticateUser(ctx, name, "carol-pw")
		if !errors.Is(err, ErrBadCredentials) || user != "carol" {
			t.Errorf("AuthenticateUser(%q, right password) = %q, %v; want carol, bad credentials", name, user, err)
		}
	}
	for _, name := range []string{"carol", " CAROL ", "Carol@Example.org"} {
		if user, _, err := d.AuthenticateUser(ctx, name, "carol-pw"); err != nil || user != "carol" {
			t.Errorf("AuthenticateUser(%q) = %q, %v; want carol", name, user, err)
		}
	}
	// Spaces the directory ignores (rt26 F2): not the entry's name either.
	for _, name := range []string{"carol\u00a0", "\u00a0carol", "carol\u2003", "carol\u3000"} {
		user, _, err := d.AuthenticateUser(ctx, name, "carol-pw")
		if !errors.Is(err, ErrBadCredentials) || user != "carol" {
			t.Errorf("AuthenticateUser(%q, right password) = %q, %v; want carol, bad credentials", name, user, err)
		}
	}
	if user, _, err := d.AuthenticateUser(ctx, "\u212aim", "kim-pw"); !errors.Is(err, ErrBadCredentials) || user != "kim" {
		t.Errorf("KELVIN SIGN kim = %q, %v; want kim, bad credentials", user, err)
	}
}

// Two entries for one name are a fault of the directory, not a wrong
// password: a temporary failure (ErrAmbiguous, which is ErrUnavailable),
// whatever the password.
func TestSlapdAmbiguousAccountIsTemporary(t *testing.T) {
	d := newFoldFixture(t, "127.0.0.87", "(mail=%s)", "(uid=%s)")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, pw := range []string{"dup-pw", "other-dup-pw", "wrong"} {
		user, _, err := d.AuthenticateUser(ctx, "dup", pw)
		if !errors.Is(err, ErrAmbiguous) || !errors.Is(err, ErrUnavailable) || user != "" {
			t.Errorf("AuthenticateUser(dup, %s) = %q, %v; want ErrAmbiguous", pw, user, err)
		}
	}
	if _, _, err := d.AuthenticateUser(ctx, "carol", "carol-pw"); err != nil {
		t.Fatalf("carol after the ambiguous name: %v", err)
	}
}
