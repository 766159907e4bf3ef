package config

import (
	"crypto/tls"
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
// data, a key of an unknown type.
func LoadKeyPair(cert, key string, certAt, keyAt []any) (tls.Certificate, error) {
	fileErr := func(at []any, msg string) error {
		return &FileError{Setting: at, Err: errors.New(settingName(at) + " " + msg)}
	}
	// Each file read bounded (rt34 F16): a setting pointed at a huge
	// file is refused at its limit, not read whole.
	certPEM, err := ReadFileLimit(cert, MaxCertFileSize, "a certificate file")
	if errors.Is(err, ErrTooLarge) {
		return tls.Certificate{}, fileErr(certAt, fmt.Sprintf("%s: %v", cert, err))
	}
	var keyPEM []byte
	if err == nil {
		keyPEM, err = ReadFileLimit(key, MaxKeyFileSize, "a key file")
		if errors.Is(err, ErrTooLarge) {
			return tls.Certificate{}, fileErr(keyAt, fmt.Sprintf("%s: %v", key, err))
		}
	}
	var pair tls.Certificate
	if err == nil {
		if pair, err = tls.X509KeyPair(certPEM, keyPEM); err == nil {
			return pair, nil
		}
	}
	var pe *os.PathError
	switch msg := err.Error(); {
	case errors.As(err, &pe):
		at := keyAt
		if pe.Path == cert {
			at = certAt
		}
		return tls.Certificate{}, fileErr(at, fmt.Sprintf("%s: %v", pe.Path, pe.Err))
	case strings.Contains(msg, "certificate input"): // no certificate PEM in the certificate file
		return tls.Certificate{}, fileErr(certAt, fmt.Sprintf("%s: %s", cert, strings.TrimPrefix(msg, "tls: ")))
	case strings.Contains(msg, "does not match"):
		return tls.Certificate{}, fileErr(keyAt, fmt.Sprintf("%s does not match the certificate of %s %s", key,
			certAt[len(certAt)-1], cert))
	default: // the key: a certificate in its place, no PEM, an unknown key type
		return tls.Certificate{}, fileErr(keyAt, fmt.Sprintf("%s: %s", key, strings.TrimPrefix(msg, "tls: ")))
	}
}
