package msgauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// The signature machinery shared by ARC-Message-Signature and ARC-Seal:
// DKIM's tag lists, canonicalizations, key records and algorithms
// (RFC 6376 §3, RFC 8463), written here because ARC signs header fields
// go-msgauth's DKIM verifier does not know.

// tagSpec is one tag-spec of a tag list (RFC 6376 §3.2, the grammar
// RFC 7489 §6.4 uses for DMARC records too): its name and value with the
// white space around them dropped, and whether it had an "=" at all.
type tagSpec struct {
	name, value, raw string
	eq               bool
}

// tagList splits s into its non-empty tag-specs: the one reading of the
// tag-list grammar for DKIM signatures and key records, ARC fields and
// DMARC records. White space there is WSP (SP, HTAB) and folding (CR,
// LF), nothing else: a form feed or a no-break space stays part of the
// name or value it touches.
func tagList(s string) []tagSpec {
	var out []tagSpec
	for _, raw := range strings.Split(s, ";") {
		if trimFWS(raw) == "" {
			continue // empty: a trailing ";" (RFC 6376 allows it)
		}
		k, v, ok := strings.Cut(raw, "=")
		out = append(out, tagSpec{name: trimFWS(k), value: trimFWS(v), raw: raw, eq: ok})
	}
	return out
}

// trimFWS drops the tag-list grammar's white space (FWS: SP, HTAB, CR,
// LF) around s.
func trimFWS(s string) string { return strings.Trim(s, " \t\r\n") }

// parseTags parses a tag list (RFC 6376 §3.2). Tag names are case-
// sensitive; a repeated tag, a tag without "=", or an invalid name is an
// error. White space (and folding) around names and values is dropped.
func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	for _, t := range tagList(s) {
		if !t.eq {
			return nil, fmt.Errorf("tag without a value")
		}
		if !validTagName(t.name) {
			return nil, fmt.Errorf("bad tag name %s", quoteShort(t.name))
		}
		if _, dup := tags[t.name]; dup {
			return nil, fmt.Errorf("tag %s repeated", quoteShort(t.name))
		}
		tags[t.name] = t.value
	}
	return tags, nil
}

// keyRecordAsRead is a DKIM key record as umbra's tag-list grammar reads
// it, for the DKIM verifier umbra uses (go-msgauth), which splits on
// spaces only: names and values without their white space, and the
// base64 and colon lists of p=, h=, k=, s=, t= without the FWS RFC 6376
// §3.6.1 allows inside them (a tab or a fold in p= is part of a valid
// record). A record that is no valid tag list is handed on as it is, for
// the verifier to refuse.
func keyRecordAsRead(txt string) string {
	if _, err := parseTags(txt); err != nil {
		return txt
	}
	var b strings.Builder
	for _, t := range tagList(txt) {
		v := t.value
		if t.name != "n" {
			v = stripWSP(v)
		}
		b.WriteString(t.name + "=" + v + ";")
	}
	return b.String()
}

func validTagName(k string) bool {
	if k == "" || !isAlpha(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isAlpha(k[i]) && (k[i] < '0' || k[i] > '9') && k[i] != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// stripWSP removes every space, tab, CR and LF (for base64 and lists).
func stripWSP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// withoutSigValue returns the field with the value of its b= tag
// emptied, everything else byte for byte (RFC 6376 §3.7).
func withoutSigValue(raw []byte) []byte {
	colon := bytes.IndexByte(raw, ':')
	if colon < 0 {
		return raw
	}
	out := append([]byte(nil), raw[:colon+1]...)
	specs := bytes.Split(raw[colon+1:], []byte(";"))
	for i, spec := range specs {
		if i > 0 {
			out = append(out, ';')
		}
		k, _, ok := bytes.Cut(spec, []byte("="))
		if ok && string(bytes.TrimSpace(k)) == "b" {
			eq := bytes.IndexByte(spec, '=')
			out = append(out, spec[:eq+1]...)
			continue
		}
		out = append(out, spec...)
	}
	return out
}

// relaxedHeader is the relaxed canonical form of a field (RFC 6376
// §3.4.2): name in lower case, folding removed, white space runs made
// one space, none around the colon or at the end, then CRLF.
func relaxedHeader(raw []byte) []byte {
	name, value, _ := bytes.Cut(raw, []byte(":"))
	var b bytes.Buffer
	b.WriteString(strings.ToLower(strings.TrimRight(string(name), " \t")))
	b.WriteByte(':')
	sp, started := false, false
	for _, c := range value {
		switch c {
		case '\r', '\n':
			continue
		case ' ', '\t':
			sp = true
			continue
		}
		if sp && started {
			b.WriteByte(' ')
		}
		sp, started = false, true
		b.WriteByte(c)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// simpleHeader is the simple canonical form: the field as received,
// ending in CRLF.
func simpleHeader(raw []byte) []byte {
	out := bytes.TrimRight(raw, "\r\n")
	return append(append([]byte(nil), out...), '\r', '\n')
}

// canonBody is the body in canonical form (RFC 6376 §3.4.3, §3.4.4):
// lines end in CRLF; relaxed also drops white space at line ends and
// makes runs of it one space; trailing empty lines go; an empty simple
// body is one CRLF, an empty relaxed body stays empty.
func canonBody(body []byte, relaxed bool) []byte {
	lines := bytes.SplitAfter(body, []byte("\n"))
	var out bytes.Buffer
	out.Grow(len(body) + 2)
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		l = bytes.TrimRight(l, "\r\n")
		if relaxed {
			var b []byte
			sp := false
			for _, c := range l {
				if c == ' ' || c == '\t' {
					sp = true
					continue
				}
				if sp {
					b = append(b, ' ')
				}
				sp = false
				b = append(b, c)
			}
			l = b
		}
		out.Write(l)
		out.WriteString("\r\n")
	}
	b := out.Bytes()
	for bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		b = b[:len(b)-2]
	}
	if string(b) == "\r\n" {
		b = b[:0]
	}
	if len(b) == 0 && !relaxed {
		return []byte("\r\n")
	}
	return b
}

// canonModes parses c= (header/body), default simple/simple.
func canonModes(c string) (headerRelaxed, bodyRelaxed bool, err error) {
	h, b, _ := strings.Cut(stripWSP(c), "/")
	mode := func(s string) (bool, error) {
		switch s {
		case "", "simple":
			return false, nil
		case "relaxed":
			return true, nil
		}
		return false, fmt.Errorf("unknown canonicalization %s", quoteShort(s))
	}
	if headerRelaxed, err = mode(h); err != nil {
		return
	}
	bodyRelaxed, err = mode(b)
	return
}

// pickHeaders returns the fields h= names, each name taking the
// bottom-most instance not yet taken (RFC 6376 §5.4.2); a name with no
// instance left contributes nothing.
func pickHeaders(fields []field, names []string) []field {
	// Index the fields by name once; each name's list is then taken
	// from the bottom up (RFC 6376 §5.4.2), so the work is linear in
	// fields plus names, not their product.
	byName := indexFields(fields)
	var out []field
	for _, n := range names {
		k := strings.ToLower(strings.TrimSpace(n))
		idx := byName[k]
		if len(idx) == 0 {
			continue // a name not (or no longer) present contributes nothing
		}
		out = append(out, fields[idx[len(idx)-1]])
		byName[k] = idx[:len(idx)-1]
	}
	return out
}

// indexFields maps each lower-cased field name to the positions of the
// fields of that name, top to bottom.
func indexFields(fields []field) map[string][]int {
	byName := make(map[string][]int)
	for i, f := range fields {
		if f.name == "" {
			continue
		}
		k := strings.ToLower(f.name)
		byName[k] = append(byName[k], i)
	}
	return byName
}

// pubKey is a key record's key (RFC 6376 §3.6.1).
type pubKey struct {
	algo  string // rsa or ed25519
	rsa   *rsa.PublicKey
	ed    ed25519.PublicKey
	hashs []string // h=, nil: any
}

var errKeyRevoked = errors.New("key revoked")

// parseKeyRecord parses a DKIM key record.
func parseKeyRecord(txt string) (*pubKey, error) {
	tags, err := parseTags(txt)
	if err != nil {
		return nil, err
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("key record version %s", quoteShort(v))
	}
	if s, ok := tags["s"]; ok {
		ok := false
		for _, x := range strings.Split(stripWSP(s), ":") {
			ok = ok || x == "*" || x == "email"
		}
		if !ok {
			return nil, errors.New("key not for email")
		}
	}
	p, ok := tags["p"]
	if !ok {
		return nil, errors.New("key record without a p tag")
	}
	p = stripWSP(p)
	if p == "" {
		return nil, errKeyRevoked
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("key data: %w", err)
	}
	k := &pubKey{algo: "rsa"}
	if v, ok := tags["k"]; ok {
		k.algo = stripWSP(v)
	}
	if h, ok := tags["h"]; ok {
		k.hashs = strings.Split(stripWSP(h), ":")
	}
	switch k.algo {
	case "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			if pk, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
				pub, err = pk, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("rsa key: %w", err)
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("key type rsa but not an RSA key")
		}
		if rk.N.BitLen() < 1024 {
			return nil, errors.New("rsa key shorter than 1024 bits")
		}
		k.rsa = rk
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, errors.New("ed25519 key of the wrong size")
		}
		k.ed = ed25519.PublicKey(der)
	default:
		return nil, fmt.Errorf("key type %s", quoteShort(k.algo))
	}
	return k, nil
}

// verifySig checks sig over data's SHA-256 hash with algorithm a
// (rsa-sha256 or ed25519-sha256) and key k.
func verifySig(a string, k *pubKey, data, sig []byte) error {
	keyAlgo, hashAlgo, _ := strings.Cut(a, "-")
	if hashAlgo != "sha256" {
		return fmt.Errorf("algorithm %s", quoteShort(a))
	}
	if keyAlgo != k.algo {
		return errors.New("algorithm does not match the key")
	}
	if k.hashs != nil {
		ok := false
		for _, h := range k.hashs {
			ok = ok || h == hashAlgo
		}
		if !ok {
			return errors.New("hash not allowed by the key")
		}
	}
	sum := sha256.Sum256(data)
	switch keyAlgo {
	case "rsa":
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig)
	case "ed25519":
		if !ed25519.Verify(k.ed, sum[:], sig) {
			return errors.New("ed25519 signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("algorithm %s", quoteShort(a))
}
