package msgauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"umbra/internal/header"
)

// ARC verification (RFC 8617 §5.2): the chain of the latest ARC set.
// Sealing is the outbound side's.

// maxARCInstance is the highest instance RFC 8617 §4.2.1 allows.
const maxARCInstance = 50

const (
	hdrAS  = "ARC-Seal"
	hdrAMS = "ARC-Message-Signature"
	hdrAAR = "ARC-Authentication-Results"
)

// arcSet is one instance's three fields.
type arcSet struct {
	as, ams, aar *field
	seal, sig    map[string]string // the tags of the AS and the AMS
}

// arcResult is the chain's validation status (the cv= a sealer would
// write) with the latest instance and the reason of a failure.
type arcResult struct {
	value    string // none, pass, fail, temperror
	instance int
	domain   string // d= of the latest seal
	reason   string
	// failed is the instance the reason is about (0: none or the chain
	// as a whole); the comment names it as "i=N" in umbra's own words.
	failed int
	// latestDMARC is the dmarc= result the latest sealer recorded in
	// its ARC-Authentication-Results ("" if none).
	latestDMARC string
	// latestFrom is the header.from that dmarc= result was about.
	latestFrom string
}

// txtLookup returns TXT records with net.Resolver's error conventions.
type txtLookup func(ctx context.Context, name string) ([]string, error)

// parseARCSets groups the ARC fields of a header by instance. It fails
// when an instance is missing, out of range, or has not exactly one of
// each field (RFC 8617 §4.2.1, §5.1.1 step 2).
func parseARCSets(fields []field) ([]arcSet, error) {
	var sets []arcSet // index i-1
	get := func(i int) *arcSet {
		for len(sets) < i {
			sets = append(sets, arcSet{})
		}
		return &sets[i-1]
	}
	for k := range fields {
		f := &fields[k]
		var slot **field
		var i int
		switch {
		case f.is(hdrAAR):
			n, err := aarInstance(f.value())
			if err != nil {
				return nil, err
			}
			i = n
			slot = &get(i).aar
		case f.is(hdrAS), f.is(hdrAMS):
			tags, err := parseTags(f.value())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			n, err := instanceNumber(tags["i"])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			i = n
			set := get(i)
			if f.is(hdrAS) {
				slot, set.seal = &set.as, tags
			} else {
				slot, set.sig = &set.ams, tags
			}
		default:
			continue
		}
		if *slot != nil {
			return nil, fmt.Errorf("two %s fields for instance %d", f.name, i)
		}
		*slot = f
	}
	for i, s := range sets {
		if s.as == nil || s.ams == nil || s.aar == nil {
			return nil, fmt.Errorf("ARC set %d incomplete", i+1)
		}
	}
	return sets, nil
}

// instanceNumber parses an i= value: 1 to 50, no sign, no leading zero.
func instanceNumber(s string) (int, error) {
	s = stripWSP(s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxARCInstance || s[0] == '0' || s[0] == '+' {
		return 0, fmt.Errorf("bad instance %s", quoteShort(s))
	}
	return n, nil
}

// aarInstance reads "i=N;" at the start of an ARC-Authentication-Results
// value (RFC 8617 §4.1.1).
func aarInstance(v string) (int, error) {
	v = strings.TrimLeft(v, " \t\r\n")
	tag, _, ok := strings.Cut(v, ";")
	if !ok {
		return 0, errors.New("ARC-Authentication-Results without an instance tag")
	}
	k, n, ok := strings.Cut(tag, "=")
	if !ok || strings.TrimSpace(k) != "i" {
		return 0, errors.New("ARC-Authentication-Results without an instance tag")
	}
	return instanceNumber(n)
}

// verifyARC validates the message's ARC chain.
func verifyARC(ctx context.Context, lookup txtLookup, fields []field, body []byte) arcResult {
	return verifyARCRest(ctx, lookup, fields, body, nil)
}

// verifyARCRest is verifyARC for a body that goes on after body (rest).
func verifyARCRest(ctx context.Context, lookup txtLookup, fields []field, body []byte, rest restOpener) arcResult {
	found := false
	for _, f := range fields {
		if f.is(hdrAS) || f.is(hdrAMS) || f.is(hdrAAR) {
			found = true
			break
		}
	}
	if !found {
		return arcResult{value: "none"}
	}
	sets, err := parseARCSets(fields)
	if err != nil {
		return arcResult{value: "fail", reason: err.Error()}
	}
	n := len(sets)
	res := arcResult{value: "fail", instance: n, domain: stripWSP(sets[n-1].seal["d"])}
	// Every seal's cv=: none at 1, pass above (a fail anywhere ends it).
	for i, s := range sets {
		want := "pass"
		if i == 0 {
			want = "none"
		}
		if cv := stripWSP(s.seal["cv"]); cv != want {
			res.failed, res.reason = i+1, fmt.Sprintf("cv %s, want %s", quoteShort(cv), want)
			return res
		}
	}
	keys := map[string]*pubKey{}
	temp := false
	key := func(d, s string) (*pubKey, error) {
		name := s + "._domainkey." + d
		if k, ok := keys[name]; ok {
			return k, nil
		}
		txts, err := lookup(ctx, name)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && (de.IsTemporary || de.IsTimeout) {
				temp = true
			}
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
		if len(txts) != 1 {
			return nil, fmt.Errorf("key %s: %d records", name, len(txts))
		}
		k, err := parseKeyRecord(txts[0])
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
		keys[name] = k
		return k, nil
	}
	fail := func(err error) arcResult {
		if cutOff(ctx) {
			res.value, res.reason = "temperror", "verification cut off: "+cutOffReason(ctx)
			return res
		}
		if temp {
			res.value = "temperror"
		}
		res.reason = err.Error()
		return res
	}
	// The latest message signature (§5.2 step 5; older ones may break
	// as the message travels).
	if err := ctx.Err(); err != nil {
		res.value, res.reason = "temperror", "verification cut off: "+cutOffReason(ctx)
		return res
	}
	if err := verifyAMS(fields, body, rest, sets[n-1], key); err != nil {
		res.failed = n
		return fail(fmt.Errorf("message signature: %w", err))
	}
	// Every seal, newest first (§5.2 step 6).
	for i := n; i >= 1; i-- {
		if cutOff(ctx) {
			res.value, res.reason = "temperror", "verification cut off: "+cutOffReason(ctx)
			return res
		}
		if err := verifySeal(sets[:i], key); err != nil {
			res.failed = i
			return fail(fmt.Errorf("seal: %w", err))
		}
	}
	res.value, res.reason = "pass", ""
	res.latestDMARC = aarResult(sets[n-1].aar.value(), "dmarc")
	res.latestFrom = aarProperty(sets[n-1].aar.value(), "dmarc", "header.from")
	return res
}

// aarResult returns the result of method in an ARC-Authentication-Results
// value ("i=N; authserv-id; method=result …; …"), "" if it has none.
func aarResult(v, method string) string {
	parts := strings.Split(v, ";")
	if len(parts) < 3 {
		return ""
	}
	for _, p := range parts[2:] {
		p = p[header.SkipCFWS(p, 0):]
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), method) {
			continue
		}
		val = val[header.SkipCFWS(val, 0):]
		end := strings.IndexAny(val, " \t\r\n(")
		if end < 0 {
			end = len(val)
		}
		return strings.ToLower(val[:end])
	}
	return ""
}

// aarProperty returns the value of property prop (e.g. "header.from")
// of method's result in an ARC-Authentication-Results value, lower case,
// quotes and a final dot removed; "" if there is none.
func aarProperty(v, method, prop string) string {
	parts := strings.Split(v, ";")
	if len(parts) < 3 {
		return ""
	}
	for _, p := range parts[2:] {
		p = withoutComments(p)
		toks := strings.Fields(p)
		if len(toks) == 0 {
			continue
		}
		name, _, ok := strings.Cut(toks[0], "=")
		if !ok || !strings.EqualFold(name, method) {
			continue
		}
		for _, tok := range toks[1:] {
			k, val, ok := strings.Cut(tok, "=")
			if ok && strings.EqualFold(k, prop) {
				val = strings.Trim(val, "\"")
				return strings.ToLower(strings.TrimSuffix(val, "."))
			}
		}
		return ""
	}
	return ""
}

// withoutComments is s with its (nested) comments made spaces.
func withoutComments(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth > 0 && c == '\\':
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			b.WriteByte(' ')
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type keyFunc func(domain, selector string) (*pubKey, error)

func sigTags(tags map[string]string, need ...string) error {
	for _, t := range need {
		if _, ok := tags[t]; !ok {
			return fmt.Errorf("no %s tag", t)
		}
	}
	return nil
}

// verifyAMS checks an ARC-Message-Signature like a DKIM signature
// (RFC 8617 §4.1.2): body hash, then the signed fields and the AMS
// itself with b= emptied.
func verifyAMS(fields []field, body []byte, rest restOpener, s arcSet, key keyFunc) error {
	t := s.sig
	if err := sigTags(t, "a", "b", "bh", "d", "h", "s"); err != nil {
		return err
	}
	hRelaxed, bRelaxed, err := canonModes(t["c"])
	if err != nil {
		return err
	}
	names := strings.Split(stripWSP(t["h"]), ":")
	if len(names) > maxSignedFields {
		return errTooExpensive
	}
	for _, n := range names {
		if strings.EqualFold(n, hdrAS) {
			return errors.New("its h tag names ARC-Seal")
		}
	}
	bh, err := base64.StdEncoding.DecodeString(stripWSP(t["bh"]))
	if err != nil {
		return fmt.Errorf("body hash tag: %w", err)
	}
	var sum []byte
	if rest == nil {
		s := sha256.Sum256(canonBody(body, bRelaxed))
		sum = s[:]
	} else {
		r, done, err := openBody(body, rest)
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		h := newBodyHasher(bRelaxed)
		_, err = io.Copy(h, r)
		done()
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		sum = h.Sum()
	}
	if subtle.ConstantTimeCompare(sum, bh) != 1 {
		return errors.New("body hash does not match")
	}
	var data bytes.Buffer
	canon := simpleHeader
	if hRelaxed {
		canon = relaxedHeader
	}
	for _, f := range pickHeaders(fields, names) {
		data.Write(canon(f.raw))
	}
	data.Write(bytes.TrimSuffix(canon(withoutSigValue(s.ams.raw)), []byte("\r\n")))
	return checkSignature(t, data.Bytes(), key)
}

// verifySeal checks the ARC-Seal of the last set in sets: relaxed
// canonical AAR, AMS and AS of every set from 1, the last AS with b=
// emptied (RFC 8617 §5.1.1).
func verifySeal(sets []arcSet, key keyFunc) error {
	last := sets[len(sets)-1]
	t := last.seal
	if err := sigTags(t, "a", "b", "d", "s", "cv"); err != nil {
		return err
	}
	if _, ok := t["h"]; ok {
		return errors.New("ARC-Seal with an h tag")
	}
	var data bytes.Buffer
	for i, s := range sets {
		data.Write(relaxedHeader(s.aar.raw))
		data.Write(relaxedHeader(s.ams.raw))
		if i < len(sets)-1 {
			data.Write(relaxedHeader(s.as.raw))
		}
	}
	data.Write(bytes.TrimSuffix(relaxedHeader(withoutSigValue(last.as.raw)), []byte("\r\n")))
	return checkSignature(t, data.Bytes(), key)
}

func checkSignature(t map[string]string, data []byte, key keyFunc) error {
	sig, err := base64.StdEncoding.DecodeString(stripWSP(t["b"]))
	if err != nil {
		return fmt.Errorf("signature tag: %w", err)
	}
	k, err := key(stripWSP(t["d"]), stripWSP(t["s"]))
	if err != nil {
		return err
	}
	return verifySig(stripWSP(t["a"]), k, data, sig)
}
