package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/ldapdir/slapdtest"
)

// ldapTestLDIF: alice has a mailbox database in the directory (DB-B);
// bob has an entry without one (the topology's recipient map gives
// DB-A); carol is an SMTP account; hub2 a transport server account.
func ldapTestLDIF() string {
	return fmt.Sprintf(`dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,%[1]s
objectClass: inetOrgPerson
objectClass: umbraRecipient
uid: alice
cn: Alice
sn: A
mail: alice@example.test
umbraMailboxDatabase: DB-B

dn: uid=bob,ou=people,%[1]s
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
mail: bob@example.test

dn: uid=carol,ou=people,%[1]s
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C
userPassword: %[2]s

dn: uid=hub2,ou=people,%[1]s
objectClass: inetOrgPerson
objectClass: umbraTransportServer
uid: hub2
cn: hub2
sn: hub2
userPassword: %[3]s

dn: cn=umbra,%[1]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: umbra
userPassword: %[4]s
`, slapdtest.Suffix, slapdtest.SSHA("carol-pw"), slapdtest.SSHA("hub2-pw"), slapdtest.SSHA("service-pw"))
}

func authPlain(t *testing.T, addr, user, pw string) string {
	t.Helper()
	c := rawDial(t, addr)
	c.cmd("EHLO client.example", "250")
	l := c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)), "")
	c.cmd("QUIT", "")
	return l[len(l)-1]
}

// EDGE-1 (LDAP directory): a hub whose recipients, SMTP accounts and
// mailbox database assignments come from a real slapd. Known recipients
// are accepted, unknown ones get 550 5.1.1; the directory's database
// attribute routes alice to DB-B although the topology's recipient map
// says DB-A; carol logs in by a bind as her entry and hub2 as a
// transport server. With slapd stopped, an address never asked gets
// 451 4.4.3 (never accept-all), a cached one is still decided within its
// TTL, and AUTH gets 454 4.7.0. An edge validates RCPT against the same
// directory.
func TestLDAPDirectoryHub(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	slapd := slapdtest.Start(t, "127.0.0.81", []string{"../../internal/ldapdir/umbra.schema"}, ldapTestLDIF())
	listen, mbx := freeAddr(t, "127.0.0.82"), freeAddr(t, "127.0.0.83") // nothing listens on mbx: mail stays queued
	topo := filepath.Join(dir, "topology.yaml")
	os.WriteFile(topo, []byte(fmt.Sprintf(`sites: [{name: s1}]
servers:
  - {name: hub1.example.test, role: hub, site: s1, address: %q}
  - {name: hub2, role: hub, site: s1, address: "127.0.0.84:25"}
  - {name: mbx1.example.test, role: mailbox, site: s1, address: %q}
mailbox_databases:
  - {name: DB-A, server: mbx1.example.test}
  - {name: DB-B, server: mbx1.example.test}
recipients:
  - {match: example.test, database: DB-A}
`, listen, mbx)), 0o600)
	pwFile := filepath.Join(dir, "ldap.pw")
	os.WriteFile(pwFile, []byte("service-pw\n"), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: directory}]
%sldap:
  url: %s
  bind_dn: cn=umbra,%s
  bind_password_file: %s
  base_dn: %s
  recipient_filter: "(mail=%%s)"
  database_attribute: umbraMailboxDatabase
  account_filter: "(&(objectClass=inetOrgPerson)(uid=%%s))"
  server_account_filter: "(objectClass=umbraTransportServer)"
  positive_ttl: 1h
  negative_ttl: 1h
`, filepath.Join(dir, "data"), topo, submitConnector("in", listen, "auth: {mechanisms: [PLAIN], allow_insecure: true, ldap: true}", "max_acknowledgement_delay: 0s"), slapd.URL, slapdtest.Suffix, pwFile, slapdtest.Suffix)), 0o600)
	if out, code := cli(t, cfg, "config", "check", cfg); code != 0 {
		t.Fatalf("config check (exit %d): %s", code, out)
	}
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	wantReplies(t, "directory up", rcptReplies(t, listen, "alice@example.test", "ALICE@example.test", "bob@example.test",
		"nobody@example.test", "*@example.test", "postmaster@example.test"),
		map[string]string{"alice@example.test": "250", "ALICE@example.test": "250", "bob@example.test": "250",
			"nobody@example.test": "550 5.1.1", "*@example.test": "550 5.1.1", "postmaster@example.test": "250"})

	for _, q := range []string{"mailbox:DB-A", "mailbox:DB-B"} {
		if out, code := cli(t, cfg, "queue", "suspend", q); code != 0 {
			t.Fatalf("suspend %s: %s", q, out)
		}
	}
	for _, rcpt := range []string{"alice@example.test", "bob@example.test"} { // one message each: a queue lists messages
		if r := rawSend(t, listen, "s@example.org", []string{rcpt}, "Subject: db\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
			t.Fatalf("DATA to %s: %s", rcpt, r)
		}
	}
	waitCond(t, "alice in DB-B's queue and bob in DB-A's", 20*time.Second, func() bool {
		a, _ := cli(t, cfg, "message", "list", "--queue", "mailbox:DB-B", "--json")
		b, _ := cli(t, cfg, "message", "list", "--queue", "mailbox:DB-A", "--json")
		return strings.Contains(a, "alice@example.test") && !strings.Contains(a, "bob@") &&
			strings.Contains(b, "bob@example.test") && !strings.Contains(b, "alice@")
	})

	if out, code := cli(t, cfg, "route", "explain", "alice@example.test", "bob@example.test"); code != 0 ||
		!strings.Contains(out, "directory assigns alice@example.test to mailbox database DB-B") || !strings.Contains(out, "database DB-A") {
		t.Errorf("route explain (exit %d):\n%s", code, out)
	}

	for _, tc := range []struct{ user, pw, want string }{
		{"carol", "carol-pw", "235"}, {"hub2", "hub2-pw", "235"}, {"carol", "wrong", "535 5.7.8"}, {"nobody", "carol-pw", "535 5.7.8"},
	} {
		if got := authPlain(t, listen, tc.user, tc.pw); !strings.HasPrefix(got, tc.want) {
			t.Errorf("AUTH %s: %q, want %s", tc.user, got, tc.want)
		}
	}
	waitCond(t, "hub2 logged in as a transport server", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "authenticated") && strings.Contains(l, "hub2") {
				return strings.Contains(l, "transport_server=true") || strings.Contains(l, `"transport_server":true`)
			}
		}
		return false
	})
	// rt16 F1: the failed login of a directory account names the account,
	// as one of the credentials file does; an unknown name is not logged
	// (it may be a password typed in the wrong field).
	waitCond(t, "the failed logins logged", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		carol, nobody := false, false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "authentication failed") {
				carol = carol || strings.Contains(l, "user=carol")
				nobody = nobody || strings.Contains(l, "nobody")
			}
		}
		if nobody {
			t.Fatal("a name that is no account was logged")
		}
		return carol
	})

	// An edge validates against the same directory at its perimeter.
	edgeListen := freeAddr(t, "127.0.0.84")
	edgeCfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(edgeCfg, []byte(fmt.Sprintf(`server: {name: edge.example.test, role: edge, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: directory}]
%ssend_connectors:
  - {name: to-hub, address_spaces: [{domain: example.test, cost: 1}], smart_hosts: [%q], tls: none}
ldap: {url: %s, bind_dn: "cn=umbra,%s", bind_password_file: %s, base_dn: %q}
`, filepath.Join(dir, "edge-data"), submitConnector("internet", edgeListen, "max_acknowledgement_delay: 0s"), listen, slapd.URL, slapdtest.Suffix, pwFile, slapdtest.Suffix)), 0o600)
	edge := startUmbra(t, edgeCfg, edgeListen)
	edge.dumpLogIfFailed()
	wantReplies(t, "edge, directory up", rcptReplies(t, edgeListen, "alice@example.test", "nobody@example.test"),
		map[string]string{"alice@example.test": "250", "nobody@example.test": "550 5.1.1"})

	slapd.Stop()
	wantReplies(t, "edge, directory down", rcptReplies(t, edgeListen, "alice@example.test", "bob@example.test"),
		map[string]string{"alice@example.test": "250", "bob@example.test": "451 4.4.3"})
	wantReplies(t, "directory down", rcptReplies(t, listen, "alice@example.test", "nobody@example.test", "carol@example.test"),
		map[string]string{"alice@example.test": "250", "nobody@example.test": "550 5.1.1", "carol@example.test": "451 4.4.3"})
	if got := authPlain(t, listen, "carol", "carol-pw"); !strings.HasPrefix(got, "454 4.7.0") {
		t.Errorf("AUTH with the directory down: %q, want 454 4.7.0", got)
	}
}

// EDGE "DNS done once": ldap.url's host name is found through umbra's
// resolver — the dns section, its hosts_file first —, as every other
// lookup is, not through the system's resolver, which knows nothing of
// a name only dns.hosts_file gives.
func TestLDAPHostNameResolvedByTheServersResolver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	slapd := slapdtest.StartTLS(t, "127.0.0.152", []string{"../../internal/ldapdir/umbra.schema"}, ldapTestLDIF())
	listen := freeAddr(t, "127.0.0.152")
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.152 "+slapdtest.HostName+"\n"), 0o600)
	named := strings.Replace(slapd.LDAPSURL, "127.0.0.152", slapdtest.HostName, 1)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, slapd.CAPEM, 0o600)
	pwFile := filepath.Join(dir, "ldap.pw")
	os.WriteFile(pwFile, []byte("service-pw\n"), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: example.test, type: internal_relay, recipient_validation: directory}]
dns: {hosts_file: %q}
%sldap:
  url: %s
  ca_file: %s
  bind_dn: cn=umbra,%s
  bind_password_file: %s
  base_dn: %s
  recipient_filter: "(mail=%%s)"
`, filepath.Join(dir, "data"), hosts, submitConnector("in", listen, "max_acknowledgement_delay: 0s"), named, caFile, slapdtest.Suffix, pwFile, slapdtest.Suffix)), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	wantReplies(t, "directory by name", rcptReplies(t, listen, "alice@example.test", "nobody@example.test"),
		map[string]string{"alice@example.test": "250", "nobody@example.test": "550 5.1.1"})
}
