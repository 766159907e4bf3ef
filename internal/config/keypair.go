package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadKeyPair loads a certificate and its private key: the one loader
// of every pair the configuration names (a receive connector's tls, the
// console, the transport client certificate, the MTA-STS policy
// listener), used by serve at start and on reload and by config check.
// A pair that does not load is a FileError at the setting to blame
// (certAt or keyAt), saying why (rt22 F2): a certificate given as the
// key, a key that does not match its certificate, a file without PEM
// data, a key of an unknown type. Each file is checked on its own as far
// as it can be without the other (it can be read, within its size
// limit, holds a certificate or a private key), so that when both are
// bad both are refused in one run (errors.Join of the two FileErrors),
// not only the first.
func LoadKeyPair(cert, key string, certAt, keyAt []any) (tls.Certificate, error) {
	fileErr := func(at []any, msg string) error {
		return &FileError{Setting: at, Err: errors.New(settingName(at) + " " + msg)}
	}
	readErr := func(at []any, file string, err error) error {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fileErr(at, fmt.Sprintf("%s: %v", pe.Path, pe.Err))
		}
		return fileErr(at, fmt.Sprintf("%s: %v", file, err))
	}
	// Each file read bounded (rt34 F16): a setting pointed at a huge
	// file is refused at its limit, not read whole.
	certPEM, certErr := ReadFileLimit(cert, MaxCertFileSize, "a certificate file")
	keyPEM, keyErr := ReadFileLimit(key, MaxKeyFileSize, "a key file")
	if certErr == nil && keyErr == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err == nil {
			return pair, nil
		}
		switch msg := err.Error(); {
		case strings.Contains(msg, "certificate input"): // no certificate PEM in the certificate file
			// The key is checked below on its own.
		case strings.Contains(msg, "does not match"):
			return tls.Certificate{}, fileErr(keyAt, fmt.Sprintf("%s does not match the certificate of %s %s", key,
				certAt[len(certAt)-1], cert))
		default: // the key: a certificate in its place, no PEM, an unknown key type
			return tls.Certificate{}, fileErr(keyAt, fmt.Sprintf("%s: %s", key, strings.TrimPrefix(msg, "tls: ")))
		}
	}
	var errs []error
	if certErr != nil {
		errs = append(errs, readErr(certAt, cert, certErr))
	} else if msg := certificateAlone(certPEM); msg != "" {
		errs = append(errs, fileErr(certAt, fmt.Sprintf("%s: %s", cert, msg)))
	}
	if keyErr != nil {
		errs = append(errs, readErr(keyAt, key, keyErr))
	} else if msg := privateKeyAlone(keyPEM); msg != "" {
		errs = append(errs, fileErr(keyAt, fmt.Sprintf("%s: %s", key, msg)))
	}
	switch len(errs) {
	case 0: // unreachable: one of the two files was refused above
		return tls.Certificate{}, fileErr(certAt, cert+": does not load with "+key)
	case 1:
		return tls.Certificate{}, errs[0]
	}
	return tls.Certificate{}, errors.Join(errs...)
}

// certificateAlone is why the PEM data of a certificate file holds no
// certificate, as crypto/tls says it, or "" when it holds one.
func certificateAlone(certPEM []byte) string {
	_, err := tls.X509KeyPair(certPEM, nil) // the certificates are read first
	if err != nil && strings.Contains(err.Error(), "certificate input") {
		return strings.TrimPrefix(err.Error(), "tls: ")
	}
	return ""
}

// privateKeyAlone is why the PEM data of a key file holds no private key
// crypto/tls would load (its rules: the first block whose type ends in
// PRIVATE KEY, PKCS#1, PKCS#8 or SEC 1), or "" when it holds one.
func privateKeyAlone(keyPEM []byte) string {
	var skipped []string
	var block *pem.Block
	for {
		block, keyPEM = pem.Decode(keyPEM)
		if block == nil {
			switch {
			case len(skipped) == 0:
				return "failed to find any PEM data in key input"
			case len(skipped) == 1 && skipped[0] == "CERTIFICATE":
				return "found a certificate rather than a key in the PEM for the private key"
			}
			return fmt.Sprintf("failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: %v", skipped)
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			break
		}
		skipped = append(skipped, block.Type)
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return ""
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return ""
	}
	if _, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return ""
	}
	return "failed to parse private key"
}
