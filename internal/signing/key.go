package signing

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"umbra/internal/config"
)

// MinRSABits is the smallest RSA key umbra signs with: RFC 8301 §3.2
// has verifiers ignore signatures by shorter keys.
const MinRSABits = 1024

// LoadKey reads a PEM private key file (ParseKey). A key file that
// anyone may read is refused: it would let any local user sign as the
// domain. A file with several faults (that mode, and a size over the
// limit or content that is no key) is refused for each: errors.Join.
func LoadKey(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		// A FIFO would block the start, the reload and config check for
		// ever; a device or directory is no key either.
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, config.FileKind(fi.Mode()))
	}
	// Opened non-blocking, and checked again on the open file: a FIFO
	// put in its place after the Stat cannot block either.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, config.FileKind(fi.Mode()))
	}
	// Every fault is reported, not only the first: a key every user
	// can read that is too large (or no key) is both (errors.Join).
	var modeErr error
	if fi.Mode().Perm()&0o007 != 0 {
		modeErr = fmt.Errorf("%s: mode %v lets every user read the key; chmod o-rwx", path, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
	case len(data) > maxKeyFile:
		err = fmt.Errorf("%s: more than %d bytes: not a key file", path, maxKeyFile)
	default:
		var k crypto.Signer
		if k, err = ParseKey(data); err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		} else if modeErr == nil {
			return k, nil
		}
	}
	if modeErr != nil && err != nil {
		return nil, errors.Join(modeErr, err)
	}
	if modeErr != nil {
		return nil, modeErr
	}
	return nil, err
}

// maxKeyFile bounds what LoadKey reads: a 16384-bit RSA key in PEM is
// under 13 KiB.
const maxKeyFile = 64 << 10

// ParseKey decodes the one PEM block of data (a second one is refused:
// which of them signs would be a guess): "PRIVATE KEY" (PKCS#8,
// Ed25519 or RSA) or "RSA PRIVATE KEY" (PKCS#1). Other key types (ECDSA
// has no DKIM algorithm), encrypted keys and RSA keys shorter than
// MinRSABits are refused with the reason.
func ParseKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("more than one PEM block (%q, then %q): a key file holds one key", block.Type, next.Type)
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, errors.New("encrypted PEM keys are not supported")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted PEM keys are not supported")
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key DKIM can use (RSA or Ed25519)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short (at least %d, RFC 8301)", bits, MinRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%s keys have no DKIM algorithm (use RSA or Ed25519)", keyKind(key))
	}
}

// Algorithm is the key's DKIM algorithm name: "rsa" or "ed25519".
func Algorithm(k crypto.Signer) string {
	if _, ok := k.Public().(ed25519.PublicKey); ok {
		return "ed25519"
	}
	return "rsa"
}

// RecordName is the DNS name of a key's TXT record.
func RecordName(domain, selector string) string {
	return selector + "._domainkey." + strings.TrimSuffix(domain, ".") + "."
}

// RecordValue is the TXT record that publishes k's public key (RFC 6376
// §3.6.1; RFC 8463 for Ed25519: the raw 32-byte key; RSA: the DER
// SubjectPublicKeyInfo).
func RecordValue(k crypto.Signer) (string, error) {
	switch pub := k.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	default:
		return "", fmt.Errorf("%s keys have no DKIM algorithm", keyKind(pub))
	}
}

// SplitTXT cuts a TXT value into character-strings of at most 255 bytes
// (RFC 1035 §3.3.14); a verifier joins them again (RFC 6376 §3.6.2.2).
func SplitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}

// ZoneLine is the record as one zone-file line, each string quoted.
func ZoneLine(name, value string) string {
	parts := SplitTXT(value)
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	if len(parts) == 1 {
		return name + " IN TXT " + parts[0]
	}
	return name + " IN TXT ( " + strings.Join(parts, "\n\t") + " )"
}

// GenerateKey makes a new key: algorithm "ed25519" or "rsa" (bits from
// 2048 to 4096: RFC 8301 wants at least 1024 and recommends 2048; larger
// keys do not fit some DNS hosts' TXT records). It returns the key and
// its PKCS#8 PEM encoding.
func GenerateKey(algorithm string, bits int) (crypto.Signer, []byte, error) {
	var k crypto.Signer
	switch algorithm {
	case "ed25519":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		k = priv
	case "rsa":
		if bits < 2048 || bits > 4096 {
			return nil, nil, fmt.Errorf("RSA key size %d: use 2048 to 4096 bits", bits)
		}
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, nil, err
		}
		k = priv
	default:
		return nil, nil, fmt.Errorf("algorithm %q: use ed25519 or rsa", algorithm)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// keyKind names the algorithm of a key that is neither RSA nor Ed25519,
// in the operator's words (not a Go type name).
func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return "ECDSA"
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "ECDH (X25519)"
	}
	return "these"
}
