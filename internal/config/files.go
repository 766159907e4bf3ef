package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// FileError is a file a setting names that its loader cannot use. The
// loader (the package that reads the file for serve) says why once, and
// Setting is the setting's path in the configuration (ldap, ca_file or
// send_connectors, 1, auth, password_file) so that Config.Place puts the
// error at the setting's line: config check, serve and a reload run the
// same loader and refuse at the same line.
type FileError struct {
	Setting []any
	Err     error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// NewFileError is a FileError whose message begins with the setting's
// name and the file it names: "ldap.ca_file /etc/ca.pem: no PEM
// certificate". A PathError gives only its cause: the file is named
// already.
func NewFileError(file string, err error, setting ...any) *FileError {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Path == file {
		err = pe.Err
	}
	return &FileError{Setting: setting, Err: fmt.Errorf("%s %s: %w", settingName(setting), file, err)}
}

// Place is err at the line of the setting it is about when it is (or
// wraps) a FileError; any other error as it is.
func (c *Config) Place(err error) error {
	var fe *FileError
	if c == nil || !errors.As(err, &fe) {
		return err
	}
	return c.ErrorAt(fe.Error(), fe.Setting...)
}

// errNoCertificate: a CA file with no PEM certificate in it (a key
// given by mistake, an empty file) would trust nothing.
var errNoCertificate = errors.New("no PEM certificate")

// AppendCAFile adds the PEM certificates of file, named by the setting
// at path, to pool: the one rule for every CA file of the configuration
// (outbound_tls.ca_file, ldap.ca_file, a receive connector's
// client_ca_file). A file that cannot be read, or holds no certificate,
// is a FileError at the setting.
func AppendCAFile(pool *x509.CertPool, file string, setting ...any) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return NewFileError(file, err, setting...)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return NewFileError(file, errNoCertificate, setting...)
	}
	return nil
}
