package config

import (
	"fmt"
	"strings"
)

// emptyFileOff are the file settings whose value "" (written, or the key
// left out) is a setting of its own: the feature the file serves is off,
// or umbra uses what it uses without the file. Every other file setting
// refuses "" at its line (TestOPS43EmptyFileSettingsAreOffOrRefused
// holds every file key to one or the other), and the README lists these
// ("The empty file settings"). Keyed by the setting's name with a list's
// index written [].
var emptyFileOff = map[string]string{
	"topology":                                   "no topology: this server runs alone, its routes from its own connectors",
	"recipients.file":                            "no recipients file: recipient validation reads no file",
	"receive_connectors[].tls.cert_file":         "no certificate: TLS is off on this connector (no STARTTLS offered)",
	"receive_connectors[].tls.key_file":          "no key: TLS is off on this connector (no STARTTLS offered)",
	"receive_connectors[].tls.client_ca_file":    "no client CA: clients' certificates are not asked for",
	"receive_connectors[].auth.credentials_file": "no credentials file: no account of a file logs in on this connector",
	"send_connectors[].auth.password_file":       "no password file: this connector does not log in",
	"transport.client_cert_file":                 "no client certificate: none is presented to the servers mail is sent to",
	"transport.client_key_file":                  "no client key: no client certificate is presented to the servers mail is sent to",
	"outbound_tls.ca_file":                       "no CA file: the system's roots verify the servers mail is sent to",
	"ldap.ca_file":                               "no CA file: the system's roots verify the directory's certificate",
	"ldap.bind_password_file":                    "no bind password file: the directory is read without a service account's bind",
	"dkim.arc.key_file":                          "no key: ARC sets are not signed",
}

// emptyFileName is path's name in emptyFileOff: its list indexes as [].
func emptyFileName(path []any) string {
	var b strings.Builder
	for _, e := range path {
		switch e := e.(type) {
		case int:
			b.WriteString("[]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, e)
		}
	}
	return b.String()
}

// EmptyFilesOff are warnings, at their lines, of the file settings the
// file writes as "" (or an empty value) and what that turns off
// (emptyFileOff): an empty value is easily a placeholder left blank, and
// config check and the start say what it means rather than leave the
// feature silently off. A key left out is not warned of.
func (c *Config) EmptyFilesOff() []string {
	var out []string
	for _, z := range c.emptyFiles {
		out = append(out, c.ErrorAt(fmt.Sprintf("warning: %s is %s: %s", z.name, z.written, emptyFileOff[emptyFileName(z.path)]), z.path...).Error())
	}
	return out
}

// keepEmptyFiles keeps, of zs, the file settings written empty whose
// emptiness is a setting of its own (EmptyFilesOff).
func (c *Config) keepEmptyFiles(zs []explicitZero) {
	for _, z := range zs {
		if _, ok := emptyFileOff[emptyFileName(z.path)]; ok && isEmptyValue(z.field) {
			c.emptyFiles = append(c.emptyFiles, z)
		}
	}
}
