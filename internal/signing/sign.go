package signing

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"umbra/internal/config"
	"umbra/internal/header"
	"umbra/internal/mailaddr"
)

// Key is one domain's signing key.
type Key struct {
	Domain   string
	Selector string
	Signer   crypto.Signer
}

// Options build a Signer from keys already loaded (New loads them from
// the configuration).
type Options struct {
	Keys []Key
	// Headers are signed and oversigned; nil: config.DefaultDKIMHeaders.
	Headers []string
	// ARC, when set, seals mail that carries an Authentication-Results
	// header of ARC.AuthServID.
	ARC *Sealer
	// Now stamps the ARC-Seal (t=); nil: time.Now. (The DKIM library
	// stamps its own signature's t= with the wall clock.)
	Now func() time.Time
	// Own reports the organisation's own domains (ASCII, lower case, no
	// final dot; nil: none), as the receive connectors' DMARC check is
	// given them: the author is read as that check reads it
	// (header.MailboxesOwn), so a From: display name showing an address
	// of one ("ceo @ corp.lan") names no author here either.
	Own func(domain string) bool
}

// Sealer is the ARC sealer's identity and key.
type Sealer struct {
	Domain, Selector string
	Signer           crypto.Signer
	AuthServID       string
}

// Signer signs and seals messages leaving the organisation. Safe for
// concurrent use: its settings are immutable, its cache locked.
type Signer struct {
	keys    map[string]Key // lower-case domain → key
	own     func(domain string) bool
	headers []string
	arc     *Sealer
	now     func() time.Time
	cache   *sigCache // the only mutable part; locked
}

// New loads every key file of c. Errors name the domain, the selector
// and the file: a key that cannot be used fails the start, the reload
// and `umbra config check`, never a delivery. A configuration without
// keys and without ARC returns nil (nothing is signed). own reports the
// organisation's own domains (Options.Own).
func New(c config.DKIM, own func(domain string) bool) (*Signer, error) {
	if len(c.Keys) == 0 && !c.ARC.Enabled() {
		return nil, nil
	}
	o := Options{Headers: c.Headers, Own: own}
	// Every key is loaded, and every one that does not load is named
	// (errors.Join of FileErrors): an operator with two bad keys learns
	// of both in one config check.
	var errs []error
	for i, k := range c.Keys {
		s, err := LoadKey(k.KeyFile)
		if err != nil {
			for _, e := range eachError(err) { // a key with several faults: a line each
				errs = append(errs, &config.FileError{Setting: []any{"dkim", "keys", i, "key_file"},
					Err: fmt.Errorf("dkim.keys[%d] %s (selector %s): key_file: %w", i, k.Domain, k.Selector, e)})
			}
			continue
		}
		o.Keys = append(o.Keys, Key{Domain: k.Domain, Selector: k.Selector, Signer: s})
	}
	if c.ARC.Enabled() {
		arcErr := func(err error) error {
			return &config.FileError{Setting: []any{"dkim", "arc", "key_file"},
				Err: fmt.Errorf("dkim.arc %s (selector %s): key_file: %w", c.ARC.Domain, c.ARC.Selector, err)}
		}
		s, err := LoadKey(c.ARC.KeyFile)
		if err == nil {
			if err = sealingKey(s); err != nil {
				err = fmt.Errorf("%s: %w", c.ARC.KeyFile, err)
			}
		}
		if err != nil {
			for _, e := range eachError(err) {
				errs = append(errs, arcErr(e))
			}
		} else {
			o.ARC = &Sealer{Domain: c.ARC.Domain, Selector: c.ARC.Selector, Signer: s, AuthServID: c.ARC.AuthServID}
		}
	}
	switch len(errs) {
	case 0:
	case 1:
		return nil, errs[0]
	default:
		return nil, errors.Join(errs...)
	}
	return NewSigner(o)
}

// sealingKey refuses a key ARC cannot seal with. RFC 8617 §4.1.3: ARC
// signs with rsa-sha256; verifiers refuse other algorithms in ARC sets.
func sealingKey(k crypto.Signer) error {
	if a := Algorithm(k); a != "rsa" {
		return fmt.Errorf("the sealing key must be RSA (ARC verifiers accept only rsa-sha256), not %s", a)
	}
	return nil
}

// NewSigner builds a Signer from loaded keys.
func NewSigner(o Options) (*Signer, error) {
	s := &Signer{keys: map[string]Key{}, own: o.Own, headers: o.Headers, arc: o.ARC, now: o.Now, cache: newSigCache()}
	if s.headers == nil {
		s.headers = config.DefaultDKIMHeaders
	}
	from := false
	for _, h := range s.headers {
		from = from || strings.EqualFold(h, "From")
	}
	if !from {
		return nil, fmt.Errorf("dkim headers must include From")
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, k := range o.Keys {
		d, err := asciiDomain(k.Domain)
		if err != nil {
			return nil, fmt.Errorf("dkim: domain %q: %w", k.Domain, err)
		}
		if _, dup := s.keys[d]; dup {
			return nil, fmt.Errorf("dkim: two keys for %s", d)
		}
		k.Domain = d
		s.keys[d] = k
	}
	if s.arc != nil && s.arc.AuthServID == "" {
		return nil, fmt.Errorf("arc: no authserv-id")
	}
	if s.arc != nil {
		if err := sealingKey(s.arc.Signer); err != nil {
			return nil, fmt.Errorf("arc: %w", err)
		}
	}
	return s, nil
}

// Result says what Sign added.
type Result struct {
	// DKIM is the d= of the DKIM-Signature added, "" for none.
	DKIM string
	// ARC is the instance of the ARC set added, 0 for none.
	ARC int
	// NoARC says why a message with this server's Authentication-Results
	// got no ARC set ("" when it got one or carries none).
	NoARC string
}

// Sign returns msg with a DKIM-Signature of the key of its author's
// domain (keyFor) and, when the message carries an
// Authentication-Results header of the sealer's authserv-id, an ARC set
// on top. The DKIM-Signature is made first, so the ARC-Message-Signature
// covers it. msg itself is not modified. An error means nothing was
// added; the caller sends msg as it is. The same message (bytes and
// envelope sender) signed again gets the same fields from a cache
// (sigCache): one signature per message, not one per attempt.
func (s *Signer) Sign(msg []byte, envelopeFrom string) ([]byte, Result, error) {
	return s.SignOrigin(msg, envelopeFrom, true)
}

// SignOrigin is Sign for a message whose origin is known: internal says
// it originated inside the organisation (queue.Message.Internal). Only
// such a message gets a DKIM signature; any other is at most ARC-sealed
// (a forwarder's statement about the results umbra verified, not a
// claim that the organisation sent it).
func (s *Signer) SignOrigin(msg []byte, envelopeFrom string, internal bool) ([]byte, Result, error) {
	if s == nil {
		return msg, Result{}, nil
	}
	k := cacheKey(msg, envelopeFrom, internal)
	if prefix, res, ok := s.cache.get(k); ok {
		return append([]byte(prefix), msg...), res, nil
	}
	out, res, err := s.sign(msg, envelopeFrom, internal)
	if err == nil {
		s.cache.put(k, string(out[:len(out)-len(msg)]), res)
	}
	return out, res, err
}

// sign makes the fields for msg (Sign without the cache).
func (s *Signer) sign(msg []byte, envelopeFrom string, internal bool) ([]byte, Result, error) {
	var res Result
	fields, _, ok := splitHeader(msg)
	if !ok {
		return msg, res, errUnframed
	}
	out := msg
	if k, ok := s.keyFor(fields, envelopeFrom); ok && internal {
		sig, err := s.dkimSignature(k, fields, msg)
		if err != nil {
			return msg, res, fmt.Errorf("dkim %s: %w", k.Domain, err)
		}
		out = make([]byte, 0, len(sig)+len(msg))
		out = append(append(out, sig...), msg...)
		res.DKIM = k.Domain
		fields = append([]field{{Name: "DKIM-Signature", Raw: sig}}, fields...)
	}
	if s.arc != nil {
		set, inst, why, err := s.seal(fields, out)
		if err != nil {
			return msg, Result{}, fmt.Errorf("arc: %w", err)
		}
		res.NoARC = why
		if set != "" {
			sealed := make([]byte, 0, len(set)+len(out))
			out = append(append(sealed, set...), out...)
			res.ARC = inst
		}
	}
	return out, res, nil
}

// keyFor chooses the key a message is signed with: that of the domain of
// the From: header's single address, or of its nearest parent domain
// that has a key (DMARC's relaxed alignment accepts it); else the same
// for the envelope sender's domain. A From: with several addresses, or
// none that parses, counts as absent.
func (s *Signer) keyFor(fields []field, envelopeFrom string) (Key, bool) {
	var from []string
	for _, f := range fields {
		if strings.EqualFold(f.Name, "From") {
			from = append(from, f.Value())
		}
	}
	if len(from) == 1 {
		// The author DMARC reads (header.MailboxesOwn with the same own
		// domains, the one strict reading): a domain with a final dot is
		// that domain; a field that is not a mailbox-list, or whose
		// display name shows an address, names no author.
		if list, err := header.MailboxesOwn(from[0], s.own); err == nil && len(list) == 1 {
			if k, ok := s.keyForDomain(list[0].Domain); ok {
				return k, true
			}
		}
	}
	return s.keyForAddress(envelopeFrom)
}

// asciiDomain is a domain's lower-case A-label form (RFC 5891): d= and
// the key's DNS name are ASCII, an SMTPUTF8 address's domain may not be.
// It is mailaddr.Domain's key, the one rule of the tree: a label IDNA
// 2008 refuses — among them a character that only stands for ASCII
// (U+212A KELVIN SIGN for "k") — is an error, so a lookalike domain
// never finds the key of the domain it imitates.
func asciiDomain(d string) (string, error) {
	return mailaddr.Name(d)
}

func (s *Signer) keyForAddress(addr string) (Key, bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return Key{}, false
	}
	return s.keyForDomain(addr[at+1:])
}

// keyForDomain is the key of domain or of its nearest parent domain
// that has one.
func (s *Signer) keyForDomain(domain string) (Key, bool) {
	d, err := asciiDomain(domain)
	if err != nil {
		return Key{}, false
	}
	for d != "" {
		if k, ok := s.keys[d]; ok {
			return k, true
		}
		_, rest, found := strings.Cut(d, ".")
		if !found || !strings.Contains(rest, ".") {
			break // never a key of a top-level domain
		}
		d = rest
	}
	return Key{}, false
}

// headerKeys is the h= list: each configured field once per occurrence
// in the message and once more (oversigning: RFC 6376 §8.15, a field of
// that name added later breaks the signature).
func (s *Signer) headerKeys(fields []field) []string {
	var keys []string
	for _, h := range s.headers {
		for i := count(fields, h); i >= 0; i-- {
			keys = append(keys, h)
		}
	}
	return keys
}

// dkimSignature makes the DKIM-Signature field (with its CRLF) for msg.
func (s *Signer) dkimSignature(k Key, fields []field, msg []byte) (string, error) {
	_, bodyAt, _ := splitHeader(msg)
	return s.dkimSignatureHashed(k, fields, relaxedBodyHash(msg[bodyAt:]))
}

// dkimSignatureHashed makes the DKIM-Signature field (with its CRLF) of a
// message with header fields fields and a body whose relaxed hash is
// bodyHash (RFC 6376 §3.7): relaxed/relaxed, SHA-256, the oversigned
// header keys. The body hash is computed by the caller — in memory
// (relaxedBodyHash) or as the body streams by (relaxedBodyHasher, in
// bounded memory whatever the body holds; the DKIM library's own
// canonicaliser keeps a run of empty lines whole until content follows),
// so a message is signed the same way on both paths.
func (s *Signer) dkimSignatureHashed(k Key, fields []field, bodyHash []byte) (string, error) {
	hkeys := s.headerKeys(fields)
	tagList := [][2]string{{"v", "1"}, {"a", Algorithm(k.Signer) + "-sha256"}, {"c", "relaxed/relaxed"}, {"d", k.Domain},
		{"s", k.Selector}, {"t", strconv.FormatInt(s.now().Unix(), 10)}, {"h", strings.Join(hkeys, ":")},
		{"bh", base64.StdEncoding.EncodeToString(bodyHash)}}
	h := sha256.New()
	picked := map[string]int{}
	for _, name := range hkeys {
		if f := pick(fields, name, picked); f != nil { // an oversigned name past the last field adds nothing (§5.4.2)
			h.Write([]byte(relaxedHeader(f.Raw)))
		}
	}
	unsigned := formatField("DKIM-Signature", append(tagList, [2]string{"b", ""}))
	h.Write([]byte(strings.TrimSuffix(relaxedHeader(unsigned), "\r\n")))
	b, err := sign(k.Signer, h.Sum(nil))
	if err != nil {
		return "", err
	}
	return formatField("DKIM-Signature", append(tagList, [2]string{"b", b})), nil
}

// formatField writes name: tags, folded before 78 columns, b= (and bh=)
// folded into chunks. Tags are written in the given order.
func formatField(name string, tagList [][2]string) string {
	var b bytes.Buffer
	b.WriteString(name + ":")
	col := len(name) + 1
	for i, t := range tagList {
		v := t[1]
		sep := ";"
		if i == len(tagList)-1 {
			sep = ""
		}
		item := " " + t[0] + "=" + v + sep
		if t[0] == "b" || t[0] == "bh" {
			// long base64: folded in pieces; whitespace in b= and bh= is
			// ignored by verifiers (RFC 6376 §3.5)
			b.WriteString("\r\n\t" + t[0] + "=")
			col = 8 + len(t[0]) + 1
			for len(v) > 0 {
				n := min(len(v), 72-col)
				if n <= 0 {
					b.WriteString("\r\n\t")
					col = 8
					continue
				}
				b.WriteString(v[:n])
				col += n
				v = v[n:]
			}
			b.WriteString(sep)
			col += len(sep)
			continue
		}
		if col+len(item) > 76 && col > len(name)+1 {
			b.WriteString("\r\n\t")
			col = 8
			item = item[1:]
		}
		if t[0] == "h" {
			// a long h= list folds after a colon (RFC 6376 §3.5 allows
			// FWS there), keeping lines short whatever the header count
			for i, name := range strings.Split(item, ":") {
				if i > 0 {
					b.WriteByte(':')
					col++
					if col+len(name) > 76 {
						b.WriteString("\r\n\t")
						col = 8
					}
				}
				b.WriteString(name)
				col += len(name)
			}
			continue
		}
		b.WriteString(item)
		col += len(item)
	}
	b.WriteString("\r\n")
	return b.String()
}

// eachError is the errors err joins (errors.Join), or err alone.
func eachError(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
