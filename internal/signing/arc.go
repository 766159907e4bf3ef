package signing

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// MaxARCInstance is the highest ARC instance (RFC 8617 §4.2.1): a
// message that already has 50 sets gets no more.
const MaxARCInstance = 50

// The ARC header fields (RFC 8617 §4.1).
const (
	hAAR = "ARC-Authentication-Results"
	hAMS = "ARC-Message-Signature"
	hAS  = "ARC-Seal"
)

// arcSet is one instance's three fields as found in the message.
type arcSet struct{ aar, ams, as *field }

// seal returns a new ARC set (ARC-Seal, ARC-Message-Signature,
// ARC-Authentication-Results, in that order from the top, with CRLFs)
// for msg, whose header fields are fields, and its instance. It returns
// "" and the reason when the message gets none:
//   - it carries no Authentication-Results of the sealer's authserv-id
//     (this server did not authenticate it: nothing to attest);
//   - its chain already ended in cv=fail, or has 50 sets;
//   - it has a chain but this server's Authentication-Results gives no
//     arc= result for it: the chain validation status (cv=) cannot be
//     stated without it (ARC verification belongs to the inbound checks).
//
// cv= is "none" for the first set, else the arc= result of this
// server's Authentication-Results ("pass" or "fail"); a structurally
// broken chain is "fail" whatever that says. With cv=fail the seal
// covers only the new set (RFC 8617 §5.1.2).
func (s *Signer) seal(fields []field, msg []byte) (string, int, string, error) {
	return s.sealHashed(fields, msg, nil)
}

// sealHashed is seal with the body's relaxed hash given (bh, computed
// while the message streamed: stream.go); nil computes it from msg.
func (s *Signer) sealHashed(fields []field, msg, bodyHash []byte) (string, int, string, error) {
	a := s.arc
	var ar *field
	for i := range fields {
		f := &fields[i]
		if strings.EqualFold(f.Name, "Authentication-Results") && ownAuthServID(f.Value(), a.AuthServID) {
			ar = f // the topmost: the most recent result of this server
			break
		}
	}
	if ar == nil {
		return "", 0, "", nil
	}
	sets, n, broken := arcSets(fields)
	if n >= MaxARCInstance {
		return "", 0, fmt.Sprintf("chain already has %d sets", n), nil
	}
	cv := "none"
	if n > 0 {
		last := sets[n]
		if !broken {
			if t, ok := tags(last.as.Value()); ok && strings.EqualFold(t["cv"], "fail") {
				return "", 0, "chain already failed (cv=fail at instance " + strconv.Itoa(n) + ")", nil
			}
		}
		switch r := methodResult(ar.Value(), "arc"); {
		case broken:
			cv = "fail"
		case r == "pass" || r == "fail":
			cv = r
		default:
			return "", 0, "the message has an ARC chain and this server's Authentication-Results has no arc=pass or arc=fail for it", nil
		}
	}
	inst := n + 1
	alg := Algorithm(a.Signer) + "-sha256"
	ts := strconv.FormatInt(s.now().Unix(), 10)

	aarValue := strings.TrimLeft(ar.Value(), " \t")
	aar := hAAR + ": i=" + strconv.Itoa(inst) + "; " + aarValue + "\r\n"

	// ARC-Message-Signature: a DKIM signature with i= instead of v=
	// (RFC 8617 §4.1.2), over the same oversigned header fields as the
	// DKIM signature, plus the DKIM-Signature fields present.
	hkeys := s.headerKeys(fields)
	for i := count(fields, "DKIM-Signature"); i > 0; i-- {
		hkeys = append(hkeys, "DKIM-Signature")
	}
	if bodyHash == nil {
		_, bodyAt, _ := splitHeader(msg)
		bodyHash = relaxedBodyHash(msg[bodyAt:])
	}
	bh := base64.StdEncoding.EncodeToString(bodyHash)
	amsTags := [][2]string{{"i", strconv.Itoa(inst)}, {"a", alg}, {"c", "relaxed/relaxed"}, {"d", a.Domain},
		{"s", a.Selector}, {"t", ts}, {"h", strings.Join(hkeys, ":")}, {"bh", bh}}
	h := sha256.New()
	picked := map[string]int{}
	for _, k := range hkeys {
		if f := pick(fields, k, picked); f != nil {
			h.Write([]byte(relaxedHeader(f.Raw)))
		}
	}
	unsigned := formatField(hAMS, append(amsTags, [2]string{"b", ""}))
	h.Write([]byte(strings.TrimSuffix(relaxedHeader(unsigned), "\r\n")))
	b, err := sign(a.Signer, h.Sum(nil))
	if err != nil {
		return "", 0, "", err
	}
	ams := formatField(hAMS, append(amsTags, [2]string{"b", b}))

	// ARC-Seal over every set in instance order, each as AAR, AMS, AS
	// (RFC 8617 §5.1.1); only the new set when the chain failed.
	asTags := [][2]string{{"i", strconv.Itoa(inst)}, {"a", alg}, {"t", ts}, {"cv", cv}, {"d", a.Domain}, {"s", a.Selector}}
	h = sha256.New()
	if cv != "fail" {
		for i := 1; i < inst; i++ {
			for _, f := range []*field{sets[i].aar, sets[i].ams, sets[i].as} {
				h.Write([]byte(relaxedHeader(f.Raw)))
			}
		}
	}
	h.Write([]byte(relaxedHeader(aar)))
	h.Write([]byte(relaxedHeader(ams)))
	unsigned = formatField(hAS, append(asTags, [2]string{"b", ""}))
	h.Write([]byte(strings.TrimSuffix(relaxedHeader(unsigned), "\r\n")))
	b, err = sign(a.Signer, h.Sum(nil))
	if err != nil {
		return "", 0, "", err
	}
	as := formatField(hAS, append(asTags, [2]string{"b", b}))
	return as + ams + aar, inst, "", nil
}

// arcSets indexes the message's ARC fields by instance. n is the highest
// instance of an ARC-Seal (of any ARC field when broken); broken is true when instances 1..n do not
// have exactly one field of each kind, or a field has no valid i=
// (RFC 8617 §5.2 step 2: the chain then fails).
func arcSets(fields []field) (map[int]*arcSet, int, bool) {
	sets := map[int]*arcSet{}
	broken := false
	n := 0
	for i := range fields {
		f := &fields[i]
		var slot func(*arcSet) **field
		switch {
		case strings.EqualFold(f.Name, hAAR):
			slot = func(s *arcSet) **field { return &s.aar }
		case strings.EqualFold(f.Name, hAMS):
			slot = func(s *arcSet) **field { return &s.ams }
		case strings.EqualFold(f.Name, hAS):
			slot = func(s *arcSet) **field { return &s.as }
		default:
			continue
		}
		inst := instance(f.Value())
		if inst < 1 || inst > MaxARCInstance {
			broken = true
			continue
		}
		st := sets[inst]
		if st == nil {
			st = &arcSet{}
			sets[inst] = st
		}
		p := slot(st)
		if *p != nil {
			broken = true
		}
		*p = f
		if strings.EqualFold(f.Name, hAS) {
			n = max(n, inst)
		}
	}
	for i := 1; i <= n; i++ {
		st := sets[i]
		if st == nil || st.aar == nil || st.ams == nil || st.as == nil {
			broken = true
		}
	}
	for i := range sets {
		if i > n {
			broken = true // fields of an instance without a seal
		}
	}
	if broken {
		// A new set goes above every instance present, seal or not.
		for i := range sets {
			n = max(n, i)
		}
		for i := 1; i <= n; i++ {
			if sets[i] == nil {
				sets[i] = &arcSet{}
			}
		}
	}
	return sets, n, broken
}

// instance reads i= from an ARC field value; 0 when absent or invalid.
// The AAR's value is not a tag-list ("i=1; authserv-id; …"), so only the
// first element is read.
func instance(v string) int {
	first, _, _ := strings.Cut(v, ";")
	k, val, ok := strings.Cut(strings.TrimSpace(first), "=")
	if !ok || strings.TrimSpace(k) != "i" {
		return 0
	}
	val = strings.TrimSpace(val)
	if len(val) == 0 || len(val) > 2 || val[0] == '0' {
		return 0
	}
	n, err := strconv.Atoi(val)
	if err != nil {
		return 0
	}
	return n
}

// pick returns the next field named name from the bottom that was not
// picked yet (RFC 6376 §5.4.2), nil when none is left.
func pick(fields []field, name string, picked map[string]int) *field {
	key := strings.ToLower(name)
	skip := picked[key]
	for i := len(fields) - 1; i >= 0; i-- {
		if !strings.EqualFold(fields[i].Name, name) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		picked[key]++
		return &fields[i]
	}
	return nil
}

// sign signs a SHA-256 digest: RSA PKCS#1 v1.5 over the digest; Ed25519
// over the digest as its message (RFC 8463 §3).
func sign(k crypto.Signer, digest []byte) (string, error) {
	opts := crypto.SignerOpts(crypto.SHA256)
	if _, ok := k.Public().(ed25519.PublicKey); ok {
		opts = crypto.Hash(0)
	}
	sig, err := k.Sign(rand.Reader, digest, opts)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
