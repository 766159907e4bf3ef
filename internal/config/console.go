package config

import (
	"crypto/tls"
	"fmt"
	"net"

	"umbra/internal/mailaddr"
)

// validateConsole checks the web console's settings: a listener that is
// loopback unless allow_remote says otherwise, and a certificate and a
// credentials file it can use (its own or the first receive connector's).
func validateConsole(v *validator, c *Config) {
	k := c.Console
	if k.Listen == "" {
		return
	}
	host, _, err := net.SplitHostPort(k.Listen)
	if err == nil {
		err = checkHostPort(k.Listen)
	}
	if err != nil {
		v.add(fmt.Sprintf("console.listen: %v", err), "console", "listen")
	} else if !k.AllowRemote && !mailaddr.LoopbackHost(host) {
		v.compare(fmt.Sprintf("console.listen %q is not a loopback address; set console.allow_remote: true to serve the console beyond this host", k.Listen),
			[][]any{{"console", "allow_remote"}}, "console", "listen")
	}
	if (k.CertFile == "") != (k.KeyFile == "") {
		v.compare("console needs both cert_file and key_file, or neither (then the first receive connector's TLS certificate)",
			[][]any{{"console", "cert_file"}, {"console", "key_file"}}, "console")
	}
	if cert, _ := ConsoleCertificate(c); cert == "" {
		v.compare("console.listen is set but there is no certificate: set console.cert_file/key_file or a receive connector's tls",
			[][]any{{"console", "cert_file"}, {"console", "key_file"}}, "console", "listen")
	}
	if ConsoleCredentials(c) == "" {
		v.compare("console.listen is set but there is no credentials file: set console.credentials_file or a receive connector's auth.credentials_file",
			[][]any{{"console", "credentials_file"}}, "console", "listen")
	}
	if k.SessionIdle < 0 {
		v.add("console.session_idle must be positive", "console", "session_idle")
	}
}

// ConsoleCertificate is the certificate and key files the console serves
// HTTPS with: its own, else the first receive connector's.
func ConsoleCertificate(c *Config) (cert, key string) {
	cert, key, _ = consoleCertificate(c)
	return cert, key
}

// LoadConsoleCertificate loads the console's certificate (as
// ConsoleCertificate names it) with LoadKeyPair, at the settings that
// name it: the console's own, or the receive connector's it falls back
// to.
func LoadConsoleCertificate(c *Config) (tls.Certificate, error) {
	cert, key, at := consoleCertificate(c)
	if cert == "" && key == "" {
		// None left: validation refuses a console without one, so this
		// is a check that left the files out after refusing them (Without).
		return tls.Certificate{}, nil
	}
	return LoadKeyPair(cert, key, append(at[:len(at):len(at)], "cert_file"), append(at[:len(at):len(at)], "key_file"))
}

// consoleCertificate is ConsoleCertificate with the section of the
// settings that name the files.
func consoleCertificate(c *Config) (cert, key string, at []any) {
	if c.Console.CertFile != "" {
		return c.Console.CertFile, c.Console.KeyFile, []any{"console"}
	}
	for i, rc := range c.ReceiveConnectors {
		if rc.TLS.CertFile != "" && rc.TLS.KeyFile != "" {
			return rc.TLS.CertFile, rc.TLS.KeyFile, []any{"receive_connectors", i, "tls"}
		}
	}
	return "", "", nil
}

// ConsoleCredentials is the credentials file the console checks logins
// against: its own, else the first receive connector's.
func ConsoleCredentials(c *Config) string {
	f, _ := ConsoleCredentialsAt(c)
	return f
}

// ConsoleCredentialsAt is ConsoleCredentials with the setting that names
// the file (console.credentials_file, or the receive connector's
// auth.credentials_file it falls back to), for errors at its line.
func ConsoleCredentialsAt(c *Config) (file string, at []any) {
	if c.Console.CredentialsFile != "" {
		return c.Console.CredentialsFile, []any{"console", "credentials_file"}
	}
	for i, rc := range c.ReceiveConnectors {
		if rc.Auth.CredentialsFile != "" {
			return rc.Auth.CredentialsFile, []any{"receive_connectors", i, "auth", "credentials_file"}
		}
	}
	return "", nil
}
