package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConsoleOffByDefault(t *testing.T) {
	c, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.Listen != "" {
		t.Fatalf("the embedded default serves the console on %q", c.Console.Listen)
	}
	if c.Console.SessionIdle.D() != DefaultConsoleSessionIdle {
		t.Errorf("session_idle default %v", c.Console.SessionIdle.D())
	}
}

func TestConsoleSettings(t *testing.T) {
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
`
	withTLS := base + `    tls:
      cert_file: tls/cert.pem
      key_file: tls/key.pem
    auth:
      mechanisms: [PLAIN]
      credentials_file: credentials
`
	cases := []struct {
		name, yaml, want string
	}{
		{"remote without allow_remote", withTLS + "console:\n  listen: 0.0.0.0:8443\n", `x.yaml:18: console.listen "0.0.0.0:8443" is not a loopback address`},
		{"no certificate", base + "console:\n  listen: 127.0.0.1:8443\n  credentials_file: c\n", "x.yaml:12: console.listen is set but there is no certificate"},
		{"no credentials", base + "console:\n  listen: 127.0.0.1:8443\n  cert_file: c.pem\n  key_file: k.pem\n", "x.yaml:12: console.listen is set but there is no credentials file"},
		{"cert without key", withTLS + "console:\n  listen: 127.0.0.1:8443\n  cert_file: c.pem\n", "console needs both cert_file and key_file"},
		{"bad listen", withTLS + "console:\n  listen: localhost\n", "console.listen: address localhost: missing port"},
		{"unknown key", withTLS + "console:\n  listen: 127.0.0.1:8443\n  password: x\n", `unknown key "password" in console`},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "x.yaml")
			os.WriteFile(p, []byte(tc.yaml), 0o600)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %s", err, tc.want)
			}
		})
	}
	// The receive connector's certificate and credentials serve when the
	// console names none; remote is allowed when asked for.
	p := filepath.Join(dir, "ok.yaml")
	os.WriteFile(p, []byte(withTLS+"console:\n  listen: 192.0.2.1:8443\n  allow_remote: true\n"), 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cert, key := ConsoleCertificate(c); cert != filepath.Join(dir, "tls/cert.pem") || key != filepath.Join(dir, "tls/key.pem") {
		t.Errorf("certificate %s %s", cert, key)
	}
	if f := ConsoleCredentials(c); f != filepath.Join(dir, "credentials") {
		t.Errorf("credentials %s", f)
	}
}
