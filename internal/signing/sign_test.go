package signing

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSA is one 2048-bit key for the package's tests (generating one
// per test costs a second each).
func testRSA(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func testEd25519(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// zone answers TXT lookups for the keys' records, as DNS would.
type zone map[string]string

func (z zone) add(t testing.TB, domain, selector string, k crypto.Signer) {
	v, err := RecordValue(k)
	if err != nil {
		t.Fatal(err)
	}
	z[strings.TrimSuffix(RecordName(domain, selector), ".")] = v
}

func (z zone) lookup(name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// verify runs the DKIM library's verifier over msg and returns the
// domains of the signatures that verified, and the errors of the rest.
func verify(t testing.TB, z zone, msg []byte) (ok []string, failed []error) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: z.lookup})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, v := range vs {
		if v.Err == nil {
			ok = append(ok, v.Domain)
		} else {
			failed = append(failed, fmt.Errorf("d=%s: %w", v.Domain, v.Err))
		}
	}
	return ok, failed
}

const plain = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: quarterly figures\r\n" +
	"Date: Mon, 30 Nov 2026 17:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello Bob,  \r\n\r\nthe figures are attached.\r\n\r\n\r\n"

func TestSignVerifiesWithLibrary(t *testing.T) {
	ed := testEd25519(t)
	rk := testRSA(t)
	z := zone{}
	z.add(t, "example.org", "ed1", ed)
	z.add(t, "bounce.example.com", "rsa1", rk)
	s, err := NewSigner(Options{Keys: []Key{
		{Domain: "example.org", Selector: "ed1", Signer: ed},
		{Domain: "bounce.example.com", Selector: "rsa1", Signer: rk},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, msg, envFrom, want string
	}{
		{"from header domain, ed25519", plain, "x@elsewhere.test", "example.org"},
		{"subdomain of a key's domain", strings.Replace(plain, "alice@example.org", "alice@news.example.org", 1), "", "example.org"},
		{"from without key: envelope sender, rsa", strings.Replace(plain, "alice@example.org", "alice@other.test", 1), "b@bounce.example.com", "bounce.example.com"},
		{"no key at all: unsigned", strings.Replace(plain, "alice@example.org", "alice@other.test", 1), "b@other.test", ""},
		{"two From addresses: envelope", strings.Replace(plain, "Alice <alice@example.org>", "a@example.org, b@example.org", 1), "b@bounce.example.com", "bounce.example.com"},
		{"display name in windows-1252", strings.Replace(plain, "Alice <", "=?windows-1252?q?Ren=E9e?= <", 1), "b@other.test", "example.org"},
		{"display name in iso-2022-jp, folded", strings.Replace(plain, "Alice <", "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\n <", 1), "", "example.org"},
		{"folded headers and bare LF body", "From: alice@example.org\r\nSubject: a\r\n\tfolded\r\n  subject\r\n\r\nline\nnext  \n", "", "example.org"},
		{"empty body", "From: alice@example.org\r\n\r\n", "", "example.org"},
		{"no body separator", "From: alice@example.org\r\n", "", ""},
		{"from domain with a final dot", strings.Replace(plain, "alice@example.org", "alice@example.org.", 1), "b@bounce.example.com", "example.org"},
		{"bare from address with a final dot", "From: alice@example.org.\r\n\r\nhi\r\n", "b@bounce.example.com", "example.org"},
		{"top-level domain never matched", strings.Replace(plain, "alice@example.org", "alice@org", 1), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, res, err := s.Sign([]byte(tc.msg), tc.envFrom)
			if tc.name == "no body separator" {
				if err == nil || !bytes.Equal(out, []byte(tc.msg)) {
					t.Fatalf("want an error and the message unchanged, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.DKIM != tc.want {
				t.Fatalf("signed by %q, want %q", res.DKIM, tc.want)
			}
			if !bytes.HasSuffix(out, []byte(tc.msg)) {
				t.Fatal("the message itself was changed")
			}
			ok, failed := verify(t, z, out)
			if len(failed) > 0 {
				t.Fatalf("signature does not verify: %v\n%s", failed, out)
			}
			if tc.want == "" {
				if len(ok) != 0 {
					t.Fatalf("unexpected signatures %v", ok)
				}
				return
			}
			if len(ok) != 1 || ok[0] != tc.want {
				t.Fatalf("verified %v, want [%s]", ok, tc.want)
			}
		})
	}
}

// TestSignatureBreaks: every change a forger might make to a signed
// message breaks the signature — including a second instance of a signed
// field added above or below (oversigning).
func TestSignatureBreaks(t *testing.T) {
	ed := testEd25519(t)
	z := zone{}
	z.add(t, "example.org", "s", ed)
	s, err := NewSigner(Options{Keys: []Key{{Domain: "example.org", Selector: "s", Signer: ed}}})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := s.Sign([]byte(plain), "")
	if err != nil {
		t.Fatal(err)
	}
	sigEnd := bytes.Index(out, []byte("From: "))
	sig, msg := string(out[:sigEnd]), string(out[sigEnd:])
	for name, forged := range map[string]string{
		"subject changed":        strings.Replace(msg, "quarterly", "annual", 1),
		"body changed":           strings.Replace(msg, "attached", "not attached", 1),
		"second From on top":     "From: mallory@evil.test\r\n" + msg,
		"second Subject below":   strings.Replace(msg, "\r\n\r\n", "\r\nSubject: urgent\r\n\r\n", 1),
		"Reply-To added":         "Reply-To: mallory@evil.test\r\n" + msg,
		"Content-Type added":     strings.Replace(msg, "\r\n\r\n", "\r\nContent-Type: text/html\r\n\r\n", 1),
		"body appended":          msg + "P.S. wire the money\r\n",
		"List-Unsubscribe added": "List-Unsubscribe: <https://evil.test/>\r\n" + msg,
	} {
		ok, _ := verify(t, z, []byte(sig+forged))
		if len(ok) != 0 {
			t.Errorf("%s: signature still verifies", name)
		}
	}
	// Relaxed canonicalisation: whitespace changes and folding do not break it.
	benign := strings.Replace(msg, "Subject: quarterly figures", "Subject:  quarterly\r\n figures", 1)
	benign = strings.Replace(benign, "Hello Bob,  ", "Hello   Bob,", 1)
	if ok, failed := verify(t, z, []byte(sig+benign)); len(ok) != 1 {
		t.Fatalf("relaxed changes broke the signature: %v", failed)
	}
}

func TestHeaderKeysOversign(t *testing.T) {
	s, err := NewSigner(Options{Keys: nil, Headers: []string{"From", "To", "Received"}})
	if err != nil {
		t.Fatal(err)
	}
	fields, _, _ := splitHeader([]byte("Received: a\r\nReceived: b\r\nFrom: x@y.z\r\nto: q@r.s\r\n\r\n"))
	got := strings.Join(s.headerKeys(fields), ":")
	if want := "From:From:To:To:Received:Received:Received"; got != want {
		t.Fatalf("h= %s, want %s", got, want)
	}
	if _, err := NewSigner(Options{Headers: []string{"To"}}); err == nil {
		t.Fatal("a header list without From was accepted")
	}
}

func TestRelaxedBodyHashMatchesLibrary(t *testing.T) {
	for _, body := range []string{"", "\r\n", "a", "a \t b  \r\n\r\n", " lead\r\n\r\nx\r\n\r\n\r\n", "bare\nlf\n\n", "cr\rmid \r\n", "\t\r\n \r\n"} {
		if err := compareBodyHash(testEd25519(t), body); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// compareBodyHash signs "From: a@b.c" + body with the DKIM library and
// compares its bh= with relaxedBodyHash.
func compareBodyHash(k crypto.Signer, body string) error {
	msg := "From: a@example.org\r\n\r\n" + body
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.org", Selector: "s", Signer: k,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed})
	if err != nil {
		return nil // the library refuses it; nothing to compare
	}
	fields, _, _ := splitHeader(out.Bytes())
	tg, ok := tags(fields[0].Value())
	if !ok {
		return fmt.Errorf("library signature does not parse: %q", fields[0].Value())
	}
	want := strings.Join(strings.Fields(tg["bh"]), "")
	got := encode(relaxedBodyHash([]byte(body)))
	if got != want {
		return fmt.Errorf("bh=%s, library %s", got, want)
	}
	return nil
}

var _ = time.Now

// countingSigner counts private-key operations.
type countingSigner struct {
	crypto.Signer
	n int
}

func (c *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.n++
	return c.Signer.Sign(r, digest, opts)
}

// TestSignedOncePerMessage: a retry (the same bytes and envelope sender)
// sends the signature and ARC set made the first time; another message,
// or the same one with another envelope sender, is signed anew.
func TestSignedOncePerMessage(t *testing.T) {
	ed := &countingSigner{Signer: testEd25519(t)}
	rk := &countingSigner{Signer: testRSA(t)}
	z := zone{}
	z.add(t, "example.org", "s", ed)
	s, err := NewSigner(Options{Keys: []Key{{Domain: "example.org", Selector: "s", Signer: ed}},
		ARC: &Sealer{Domain: "example.org", Selector: "arc", Signer: rk, AuthServID: "mx.umbra.test"}})
	if err != nil {
		t.Fatal(err)
	}
	first, res1, err := s.Sign([]byte(forwarded), "")
	if err != nil || res1.DKIM == "" || res1.ARC != 1 || ed.n != 1 || rk.n != 2 {
		t.Fatalf("first: %v %+v, %d dkim and %d arc signatures", err, res1, ed.n, rk.n)
	}
	again, res2, err := s.Sign([]byte(forwarded), "")
	if err != nil || !bytes.Equal(first, again) || res2 != res1 || ed.n != 1 || rk.n != 2 {
		t.Fatalf("a retry was signed again (%d, %d) or differs", ed.n, rk.n)
	}
	if ok, failed := verify(t, z, again); len(ok) != 1 {
		t.Fatalf("the remembered signature does not verify: %v", failed)
	}
	if _, _, err := s.Sign([]byte(forwarded), "other@example.org"); err != nil || ed.n != 2 {
		t.Fatalf("another envelope sender reused a signature: %v %d", err, ed.n)
	}
	if _, _, err := s.Sign([]byte(strings.Replace(forwarded, "quarterly", "annual", 1)), ""); err != nil || ed.n != 3 {
		t.Fatalf("another message reused a signature: %v %d", err, ed.n)
	}
	// The cache is bounded.
	for i := 0; i < cacheSize+10; i++ {
		s.cache.put([32]byte{byte(i), byte(i >> 8), 1}, "x", Result{})
	}
	if s.cache.lru.Len() != cacheSize || len(s.cache.m) != cacheSize {
		t.Fatalf("cache holds %d/%d entries, bound %d", s.cache.lru.Len(), len(s.cache.m), cacheSize)
	}
}

// TestSignConcurrent: delivery workers share one Signer (run with -race).
func TestSignConcurrent(t *testing.T) {
	ed := testEd25519(t)
	z := zone{}
	z.add(t, "example.org", "s", ed)
	s, err := NewSigner(Options{Keys: []Key{{Domain: "example.org", Selector: "s", Signer: ed}},
		ARC: &Sealer{Domain: "example.org", Selector: "arc", Signer: testRSA(t), AuthServID: "mx.umbra.test"}})
	if err != nil {
		t.Fatal(err)
	}
	outs := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := strings.Replace(forwarded, "quarterly", fmt.Sprintf("q%d", i%3), 1)
			outs[i], _, _ = s.Sign([]byte(msg), "")
		}()
	}
	wg.Wait()
	for i, out := range outs {
		if ok, failed := verify(t, z, out); len(ok) != 1 {
			t.Fatalf("%d: %v", i, failed)
		}
	}
}

// TestInternationalisedDomain: an SMTPUTF8 From: domain finds the key of
// its A-label form, configured in either form; d= is the A-label.
func TestInternationalisedDomain(t *testing.T) {
	ed := testEd25519(t)
	z := zone{}
	z.add(t, "xn--bcher-kva.example", "s", ed)
	for _, configured := range []string{"xn--bcher-kva.example", "Bücher.example"} {
		s, err := NewSigner(Options{Keys: []Key{{Domain: configured, Selector: "s", Signer: ed}}})
		if err != nil {
			t.Fatal(err)
		}
		out, res, err := s.Sign([]byte(strings.Replace(plain, "alice@example.org", "zoë@bücher.example", 1)), "")
		if err != nil || res.DKIM != "xn--bcher-kva.example" {
			t.Fatalf("%s: %v %+v", configured, err, res)
		}
		if ok, failed := verify(t, z, out); len(ok) != 1 {
			t.Fatalf("%s: %v", configured, failed)
		}
	}
}

// A From: domain with a character IDNA 2008 disallows that only stands
// for ASCII (U+212A KELVIN SIGN for "k") is not the ASCII domain it
// imitates: it finds no key of kiosk.test (mailaddr.Domain, the one
// rule), so umbra never signs a lookalike as the real domain; a key
// configured so is refused.
func TestLookalikeDomainFindsNoKey(t *testing.T) {
	ed := testEd25519(t)
	s, err := NewSigner(Options{Keys: []Key{{Domain: "kiosk.test", Selector: "s", Signer: ed}}})
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := s.Sign([]byte(strings.Replace(plain, "alice@example.org", "boss@\u212Aiosk.test", 1)), "")
	if err != nil || res.DKIM != "" {
		t.Fatalf("the lookalike From: signed as %q (%v)", res.DKIM, err)
	}
	if _, err := NewSigner(Options{Keys: []Key{{Domain: "\u212Aiosk.test", Selector: "s", Signer: ed}}}); err == nil {
		t.Fatal("a key for a disallowed domain accepted")
	}
}

// A From: whose display name shows an address of one of the
// organisation's own domains ("ceo @ corp.lan", a top label that is no
// ICANN top-level domain) names no author to DMARC's reading at the
// receive connector (header.MailboxesOwn with the accepted domains):
// signing reads the same author, so such a From: is absent here too and
// the envelope sender's key signs, never the From: domain's
// (EDGE-1: one reading of the author for DKIM signing and DMARC).
func TestOwnDomainShownInNameReadsAsAtTheDoor(t *testing.T) {
	ed := testEd25519(t)
	keys := []Key{{Domain: "example.org", Selector: "s", Signer: ed}, {Domain: "mail.example", Selector: "s", Signer: ed}}
	msg := []byte(strings.Replace(plain, "From: Alice <alice@example.org>", `From: "ceo @ corp.lan" <alice@example.org>`, 1))
	for _, c := range []struct {
		own  func(string) bool
		want string
	}{
		{nil, "example.org"}, // "corp.lan" is prose: the From: domain's key
		{func(d string) bool { return d == "corp.lan" }, "mail.example"}, // an own domain shown: no author
	} {
		s, err := NewSigner(Options{Keys: keys, Own: c.own})
		if err != nil {
			t.Fatal(err)
		}
		if _, res, err := s.Sign(msg, "bounce@mail.example"); err != nil || res.DKIM != c.want {
			t.Errorf("own set %v: signed %q (%v), want %q", c.own != nil, res.DKIM, err, c.want)
		}
	}
}
