package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"umbra/internal/filelimit"
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
// Several errors joined (errors.Join: a loader that names every bad file
// it found) are placed each, as Errors in line order, when each is a
// FileError.
func (c *Config) Place(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok && c != nil {
		var es Errors
		for _, e := range j.Unwrap() {
			pe, ok := c.Place(e).(*Error)
			if !ok {
				return err
			}
			es = append(es, pe)
		}
		sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
		return es
	}
	var fe *FileError
	if c == nil || !errors.As(err, &fe) {
		return err
	}
	e := c.ErrorAt(fe.Error(), fe.Setting...)
	e.cause = fe
	return e
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
	pem, err := ReadFileLimit(file, MaxCertFileSize, "a certificate file")
	if err != nil {
		return NewFileError(file, err, setting...)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return NewFileError(file, errNoCertificate, setting...)
	}
	return nil
}

// Without is a copy of c with the file setting at the path setting (as
// a FileError names it) emptied, and ok; ok is false when no file
// setting is named there. c is not changed: what the path passes
// through is copied, the rest shared. config check uses it to go on
// after a file its loader refused, so that one run reports every bad
// file: the loader, run again on the copy, no longer stops at that one.
func (c *Config) Without(setting ...any) (_ *Config, ok bool) {
	if c == nil || len(setting) == 0 {
		return nil, false
	}
	cp := *c
	v := reflect.ValueOf(&cp).Elem()
	for _, k := range setting {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil, false
			}
			np := reflect.New(v.Type().Elem())
			np.Elem().Set(v.Elem())
			v.Set(np)
			v = np.Elem()
		}
		switch k := k.(type) {
		case int:
			if v.Kind() != reflect.Slice || k < 0 || k >= v.Len() {
				return nil, false
			}
			ns := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(ns, v)
			v.Set(ns)
			v = ns.Index(k)
		case string:
			if v = fieldByKey(v, k); !v.IsValid() {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	if v.Kind() != reflect.String || v.String() == "" {
		return nil, false
	}
	v.SetString("")
	return &cp, true
}

// Partner is the other file of the pair the file setting at setting
// belongs to (a certificate's key_file for its cert_file, and back:
// cert_file, client_cert_file, …), or nil for a setting of no pair: a
// check that leaves one file of a pair out (Without) leaves out both, or
// the loader refuses the half left.
func Partner(setting ...any) []any {
	if len(setting) == 0 {
		return nil
	}
	last, ok := setting[len(setting)-1].(string)
	if !ok {
		return nil
	}
	var other string
	switch {
	case strings.HasSuffix(last, "cert_file"):
		other = strings.TrimSuffix(last, "cert_file") + "key_file"
	case strings.HasSuffix(last, "key_file") && len(setting) > 1 && setting[0] != "dkim":
		other = strings.TrimSuffix(last, "key_file") + "cert_file"
	default:
		return nil
	}
	return append(append([]any{}, setting[:len(setting)-1]...), other)
}

// fieldByKey is the field of struct v whose YAML key is key, looking
// through fields without a key (embedded, as walkFiles does); the zero
// Value when there is none.
func fieldByKey(v reflect.Value, key string) reflect.Value {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch k {
		case key:
			return v.Field(i)
		case "":
			if fv := fieldByKey(v.Field(i), key); fv.IsValid() {
				return fv
			}
		}
	}
	return reflect.Value{}
}

// Size limits of the files a configuration names, by kind: far above
// any real file of the kind, far below what a setting pointed by
// mistake at a log file or a disk image would make a check, a start or
// a reload hold in memory (config check, serve and SIGHUP read them
// with ReadFileLimit and the readers of each kind).
const (
	MaxCertFileSize        = 16 << 20 // a certificate chain or a CA bundle
	MaxKeyFileSize         = 1 << 20  // a private key (TLS, DKIM, ARC)
	MaxPasswordFileSize    = 64 << 10 // a password file
	MaxCredentialsFileSize = 64 << 20 // a credentials file (one line per account)
)

// ErrTooLarge is a file larger than the limit of its kind
// (filelimit.ErrTooLarge).
var ErrTooLarge = filelimit.ErrTooLarge

// ReadFileLimit reads file whole when it holds at most limit bytes
// (filelimit.ReadFile).
func ReadFileLimit(file string, limit int64, what string) ([]byte, error) {
	return filelimit.ReadFile(file, limit, what)
}

// LimitReader reads r up to limit bytes (filelimit.Reader).
func LimitReader(r io.Reader, limit int64, what string) io.Reader {
	return filelimit.Reader(r, limit, what)
}

// NewFileLineError is err (which names the file and its line already:
// "creds:2: want name:bcrypt-hash[:server]") as a FileError at the
// setting that names the file, after the setting's name: a loader that
// refuses several lines of one file gives one of these for each.
func NewFileLineError(err error, setting ...any) *FileError {
	return &FileError{Setting: setting, Err: fmt.Errorf("%s %w", settingName(setting), err)}
}

// FileSetting is the value of the file setting at the path setting (as
// a FileError names it), and whether there is one there: a check that
// left the setting out (Without) finds it empty, and a loader's refusal
// of that empty name is the omission's doing.
func (c *Config) FileSetting(setting ...any) (string, bool) {
	if c == nil || len(setting) == 0 {
		return "", false
	}
	v := reflect.ValueOf(c).Elem()
	for _, k := range setting {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return "", false
			}
			v = v.Elem()
		}
		switch k := k.(type) {
		case int:
			if v.Kind() != reflect.Slice || k < 0 || k >= v.Len() {
				return "", false
			}
			v = v.Index(k)
		case string:
			if v = fieldByKey(v, k); !v.IsValid() {
				return "", false
			}
		default:
			return "", false
		}
	}
	if v.Kind() != reflect.String {
		return "", false
	}
	return v.String(), true
}
