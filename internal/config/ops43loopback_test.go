package config

import (
	"os"
	"path/filepath"
	"testing"
)

// OPS-43 item 4: localhost written as LOCALHOST or with its final dot
// is loopback wherever the configuration asks whether a host is: the
// console's listen address needs no allow_remote, an ldap:// URL's
// bind may go in clear text, and a listen address collides with
// 127.0.0.1 on its port.
func TestOPS43LocalhostSpellingsAreLoopback(t *testing.T) {
	base := `server:
  name: hub.example.test
  role: hub
  data_dir: data
receive_connectors:
  - name: in
    bindings: ["127.0.0.1:2525"]
    remote_ranges: ["127.0.0.0/8"]
    permissions:
      anonymous: [submit]
    tls:
      cert_file: tls/cert.pem
      key_file: tls/key.pem
    auth:
      mechanisms: [PLAIN]
      credentials_file: credentials
`
	dir := t.TempDir()
	p := filepath.Join(dir, "x.yaml")
	for _, host := range []string{"LOCALHOST", "localhost.", "LocalHost.", "[::ffff:127.0.0.1]"} {
		for what, y := range map[string]string{
			"console": base + "console:\n  listen: '" + host + ":8443'\n",
			"ldap":    base + "ldap: {url: 'ldap://" + host + "', base_dn: dc=x, bind_dn: cn=u, bind_password_file: pw, account_filter: (uid=%s)}\n",
		} {
			os.WriteFile(p, []byte(y), 0o600)
			if _, err := Load(p); err != nil {
				t.Errorf("%s at %s: %v; want it taken as loopback", what, host, err)
			}
		}
	}
	for _, host := range []string{"LOCALHOST", "localhost."} {
		if !listenersCollide(host+":2525", "127.0.0.1:2525") {
			t.Errorf("%s:2525 and 127.0.0.1:2525 are not taken to collide", host)
		}
	}
}
