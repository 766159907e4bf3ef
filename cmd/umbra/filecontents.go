package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"umbra/internal/config"
	"umbra/internal/delivery"
	"umbra/internal/signing"
)

// namedFileContents loads every file a setting names whose content
// serve uses — CA files, password files, DKIM and ARC keys — with the
// code serve loads it with, and reports each that does not load at the
// setting's file:line: a CA file holding no certificate, an empty
// password file, a key of a type DKIM or ARC cannot use. config check
// runs it, and serve runs it (checkConfig) before it creates anything
// in data_dir. A file that cannot be read at all was reported before,
// by UnreadableFiles; it is reported here too if it got here.
func namedFileContents(cfg *config.Config) error {
	var errs config.Errors
	add := func(msg string, path ...any) { errs = append(errs, cfg.ErrorAt(msg, path...)) }
	caFile := func(setting, file string, path ...any) {
		if file == "" {
			return
		}
		pem, err := os.ReadFile(file)
		switch {
		case err != nil:
			add(fmt.Sprintf("%s: %v", setting, err), path...)
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			add(fmt.Sprintf("%s %s: no PEM certificate", setting, file), path...)
		}
	}
	passwordFile := func(setting, file string, read func([]byte) string, path ...any) {
		if file == "" {
			return
		}
		b, err := os.ReadFile(file)
		switch {
		case err != nil:
			add(fmt.Sprintf("%s: %v", setting, err), path...)
		case read(b) == "":
			add(fmt.Sprintf("%s %s is empty", setting, file), path...)
		}
	}
	caFile("outbound_tls.ca_file", cfg.OutboundTLS.CAFile, "outbound_tls", "ca_file")
	if cfg.LDAP.Enabled() {
		caFile("ldap.ca_file", cfg.LDAP.CAFile, "ldap", "ca_file")
		passwordFile("ldap.bind_password_file", cfg.LDAP.BindPasswordFile, ldapPassword, "ldap", "bind_password_file")
	}
	for i, sc := range cfg.SendConnectors {
		passwordFile(fmt.Sprintf("send_connectors[%d].auth.password_file", i), sc.Auth.PasswordFile, delivery.PasswordOf, "send_connectors", i, "auth", "password_file")
	}
	for i, k := range cfg.DKIM.Keys {
		if k.KeyFile == "" {
			continue
		}
		if _, err := signing.LoadKey(k.KeyFile); err != nil {
			add(fmt.Sprintf("dkim.keys[%d] %s (selector %s): key_file: %v", i, k.Domain, k.Selector, err), "dkim", "keys", i, "key_file")
		}
	}
	if a := cfg.DKIM.ARC; a.Enabled() {
		k, err := signing.LoadKey(a.KeyFile)
		switch {
		case err != nil:
			add(fmt.Sprintf("dkim.arc.key_file: %v", err), "dkim", "arc", "key_file")
		case signing.Algorithm(k) != "rsa":
			add(fmt.Sprintf("dkim.arc.key_file %s: the sealing key must be RSA (ARC verifiers accept only rsa-sha256), not %s", a.KeyFile, signing.Algorithm(k)),
				"dkim", "arc", "key_file")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ldapPassword is the service account's password in the content of
// ldap.bind_password_file: the file without its trailing line ends.
func ldapPassword(b []byte) string { return strings.TrimRight(string(b), "\r\n") }
