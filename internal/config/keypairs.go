package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyPairs loads every certificate and private key pair the
// configuration names (receive connectors' tls, console, transport
// client certificate, the MTA-STS policy listener) as serve loads them,
// and reports each one that does not load with file and line: a
// certificate given as the key, a key that does not match its
// certificate, a file without PEM data (rt22 F2). config check and serve
// call it before anything listens or is created; Load does not, since
// other commands read the configuration without the keys (which are
// often readable by the daemon only).
func (c *Config) KeyPairs() error {
	if c.doc == nil {
		return nil
	}
	type pair struct {
		cert, key string
		at        []any // the section holding cert_file and key_file
	}
	var ps []pair
	for i, rc := range c.ReceiveConnectors {
		ps = append(ps, pair{rc.TLS.CertFile, rc.TLS.KeyFile, []any{"receive_connectors", i, "tls"}})
	}
	ps = append(ps, pair{c.Console.CertFile, c.Console.KeyFile, []any{"console"}},
		pair{c.Transport.ClientCertFile, c.Transport.ClientKeyFile, []any{"transport"}},
		pair{c.OutboundTLS.Publish.CertFile, c.OutboundTLS.Publish.KeyFile, []any{"outbound_tls", "mta_sts_publish"}})
	var v validator
	for _, p := range ps {
		if p.cert == "" || p.key == "" {
			continue // one without the other is refused by Parse
		}
		certKey, keyKey := "cert_file", "key_file"
		if p.at[0] == "transport" {
			certKey, keyKey = "client_cert_file", "client_key_file"
		}
		_, err := tls.LoadX509KeyPair(p.cert, p.key)
		if err == nil {
			continue
		}
		at := func(k string) []any { return append(append([]any(nil), p.at...), k) }
		var pe *os.PathError
		switch msg := err.Error(); {
		case errors.As(err, &pe):
			k := keyKey
			if pe.Path == p.cert {
				k = certKey
			}
			v.add(fmt.Sprintf("%s %s: %v", settingName(at(k)), pe.Path, pe.Err), at(k)...)
		case strings.Contains(msg, "certificate input"): // no certificate PEM in cert_file
			v.add(fmt.Sprintf("%s %s: %s", settingName(at(certKey)), p.cert, strings.TrimPrefix(msg, "tls: ")), at(certKey)...)
		case strings.Contains(msg, "does not match"):
			v.add(fmt.Sprintf("%s %s does not match the certificate of %s %s", settingName(at(keyKey)), p.key,
				certKey, p.cert), at(keyKey)...)
		default: // the key: a certificate in its place, no PEM, an unknown key type
			v.add(fmt.Sprintf("%s %s: %s", settingName(at(keyKey)), p.key, strings.TrimPrefix(msg, "tls: ")), at(keyKey)...)
		}
	}
	return violations(c.File, c.doc, v.out)
}
