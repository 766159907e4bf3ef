package config

import (
	"strings"
	"testing"
)

// OPS-2 (rt42-front F4): an error about a connector's setting names it
// by its full key — receive_connectors[0].limits.max_recipients, not
// limits.max_recipients, which says neither the list nor the connector
// — as every other error of a connector does
// (receive_connectors[0].limits.max_message_size: invalid size …).
func TestConnectorErrorsNameTheFullKey(t *testing.T) {
	_, err := Parse([]byte(`server: {name: mx.example.test}
receive_connectors:
  - name: in
    bindings: ["127.0.0.134:13001"]
    permissions: {anonymous: [submit]}
    limits:
      max_recipients: -1
      max_errors: -2
      max_line_length: 999
  - name: in2
    bindings: ["127.0.0.134:13002"]
    permissions: {anonymous: [submit]}
    limits:
      max_line_length: 2097152
send_connectors:
  - name: out
    address_spaces: [{domain: "*", cost: 1}]
    port: 70000
    max_connections: -1
    mx_address_limit: -1
    mx_session_limit: -1
`), "t.yaml")
	if err == nil {
		t.Fatal("loaded without error")
	}
	got := err.Error()
	for _, want := range []string{
		"receive_connectors[0].limits.max_recipients must be positive",
		"receive_connectors[0].limits.max_errors must be positive",
		"receive_connectors[0].limits.max_line_length must be at least 1000",
		"receive_connectors[1].limits.max_line_length must be at most 1048576",
		"send_connectors[0].port must be between 1 and 65535",
		"send_connectors[0].max_connections must be positive",
		"send_connectors[0].mx_address_limit -1 is outside its range",
		"send_connectors[0].mx_session_limit -1 is outside its range",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors do not name the full key %q:\n%s", want, got)
		}
	}
	for _, line := range strings.Split(got, "\n") {
		for _, short := range []string{": limits.", ": port ", ": limits must", ": mx_"} {
			if strings.Contains(line, short) {
				t.Errorf("an error names a connector's setting without its connector: %s", line)
			}
		}
	}
}

// SMTP-2, OPS-3 (rt42-front F2): auth.allow_insecure: true beside
// tls.required: true does nothing — tls.required wins, no AUTH is offered
// before STARTTLS — so it is refused at its line, as the auth settings of
// a connector that offers no AUTH are (authOffSettings): an operator who
// wrote it believed logins in clear would be taken.
func TestAllowInsecureWithTLSRequiredRefused(t *testing.T) {
	_, err := Parse([]byte(`server: {name: mx.example.test}
receive_connectors:
  - name: in
    bindings: ["127.0.0.134:13003"]
    tls: {cert_file: c.pem, key_file: k.pem, required: true}
    auth:
      mechanisms: [PLAIN]
      credentials_file: creds
      allow_insecure: true
    permissions: {authenticated: [submit]}
`), "t.yaml")
	want := "t.yaml:9: receive_connectors[0].auth.allow_insecure is set but receive_connectors[0].tls.required is true, so this connector takes no AUTH before STARTTLS"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("allow_insecure beside tls.required: %v, want %q", err, want)
	}
}
