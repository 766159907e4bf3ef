package smtp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"umbra/internal/clock"
	"umbra/internal/ldapdir"
	"umbra/internal/ldapdir/slapdtest"
)

// slapdAccounts adapts a real directory to AccountSource (as cmd/umbra's
// ldapAccounts does) and to AccountStanding.
type slapdAccounts struct{ d *ldapdir.Directory }

func (a slapdAccounts) Authenticate(ctx context.Context, name, password string) (string, bool, bool, error) {
	user, server, err := a.d.AuthenticateUser(ctx, name, password)
	if errors.Is(err, ldapdir.ErrBadCredentials) {
		return user, false, false, nil
	}
	return user, err == nil, server, err
}
func (a slapdAccounts) HasServer() bool { return a.d.HasServer() }
func (a slapdAccounts) Account(ctx context.Context, name, user string) (bool, bool, error) {
	return a.d.Account(ctx, name, user)
}

// SMTP-8, EDGE-1 (LDAP directory): an account of the directory is judged
// at MAIL and RCPT as one of the credentials file is: once the
// directory no longer has it — disabled (account_filter no longer
// matches its entry) or removed — the session's next MAIL after the
// directory's verdict is due again (a minute, on the server's clock) is
// refused 530 5.7.0 and the session goes on unauthenticated; an
// account that still stands goes on. A directory that cannot answer
// revokes nobody: the last verdict holds.
func TestSMTP8DirectoryAccountJudgedAtMail(t *testing.T) {
	slapdtest.Need(t)
	ldif := fmt.Sprintf(`dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: cn=umbra,%[1]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: umbra
userPassword: %[2]s
`, slapdtest.Suffix, slapdtest.SSHA("service-pw"))
	for _, u := range []string{"carol", "dave", "erin"} {
		ldif += fmt.Sprintf(`
dn: uid=%[1]s,ou=people,%[2]s
objectClass: inetOrgPerson
uid: %[1]s
cn: %[1]s
sn: %[1]s
userPassword: %[3]s
`, u, slapdtest.Suffix, slapdtest.SSHA(u+"-pw"))
	}
	srv := slapdtest.Start(t, "127.0.0.150", []string{"../ldapdir/umbra.schema"}, ldif)
	dir, err := ldapdir.New(ldapdir.Config{URL: srv.URL, BindDN: "cn=umbra," + slapdtest.Suffix, BindPassword: "service-pw", BaseDN: slapdtest.Suffix,
		AccountFilter: "(&(objectClass=inetOrgPerson)(uid=%s)(!(description=disabled)))", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	clk := clock.NewFake(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	s := startWith(t, ServerConfig{Clock: clk, Accounts: slapdAccounts{dir}, Connectors: connectors(t, `
  - name: submission
    bindings: ["127.0.0.1:0"]
    auth: {mechanisms: [PLAIN], ldap: true, allow_insecure: true}
    permissions: {anonymous: [submit], authenticated: [submit, relay]}
ldap: {url: "ldap://127.0.0.150", base_dn: "dc=x", account_filter: "(uid=%s)"}
`)})
	session := func(user string) *dialog {
		d := dial(t, s, "")
		d.expect("220")
		d.cmd("EHLO c", "250")
		d.cmd(plainAuth(user, user+"-pw"), "235")
		d.cmd("MAIL FROM:<"+user+"@example.test>", "250")
		d.cmd("RCPT TO:<x@remote.example>", "250")
		d.cmd("RSET", "250")
		return d
	}
	carol, dave, erin := session("carol"), session("dave"), session("erin")

	lc, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if err := lc.Bind(slapdtest.RootDN, slapdtest.RootPassword); err != nil {
		t.Fatal(err)
	}
	m := ldap.NewModifyRequest("uid=carol,ou=people,"+slapdtest.Suffix, nil)
	m.Add("description", []string{"disabled"})
	if err := lc.Modify(m); err != nil {
		t.Fatal(err)
	}
	if err := lc.Del(ldap.NewDelRequest("uid=dave,ou=people,"+slapdtest.Suffix, nil)); err != nil {
		t.Fatal(err)
	}

	carol.cmd("MAIL FROM:<carol@example.test>", "250") // the verdict of its AUTH is fresh still
	carol.cmd("RSET", "250")
	clk.Advance(2 * time.Minute)
	// The directory told that it no longer has the account; a password
	// changed there is never seen by a session already authenticated,
	// so the reply names none.
	carol.cmd("MAIL FROM:<carol@example.test>", "250") // unauthenticated now: anonymous rights, not told here
	if r := carol.cmd("RCPT TO:<x@remote.example>", "530 5.7.0"); strings.Contains(r, "password") || !strings.Contains(r, "directory") {
		t.Errorf("a directory's revocation answered %q: want it to name the directory, and no password change it cannot see", r)
	}
	carol.cmd("RCPT TO:<x@remote.example>", "550 5.7.1") // told once
	carol.cmd("RSET", "250")
	carol.cmd(plainAuth("carol", "carol-pw"), "535 5.7.8") // disabled: no AUTH either
	dave.cmd("MAIL FROM:<dave@example.test>", "250")
	dave.cmd("RCPT TO:<x@remote.example>", "530 5.7.0")
	dave.cmd("RSET", "250")
	erin.cmd("MAIL FROM:<erin@example.test>", "250")
	erin.cmd("RCPT TO:<x@remote.example>", "250")
	erin.cmd("RSET", "250")

	srv.Stop()
	clk.Advance(2 * time.Minute)
	erin.cmd("MAIL FROM:<erin@example.test>", "250") // the directory is down: the last verdict holds
	erin.cmd("RCPT TO:<x@remote.example>", "250")
}
