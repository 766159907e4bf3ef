package signing

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// FuzzSign: any message, with any header (Authentication-Results, ARC
// sets, From: fields of every shape), is signed and sealed without a
// panic; a message that got a DKIM-Signature verifies with the library;
// the message itself is never changed, only prefixed.
func FuzzSign(f *testing.F) {
	f.Add([]byte(plain), "a@example.org")
	f.Add([]byte(forwarded), "")
	f.Add([]byte("From: =?utf-8?q?A?= <a@example.org>, b@x\r\nSubject: x\r\n\r\nbody"), "b@example.org")
	f.Add([]byte("ARC-Seal: i=1; cv=none\r\nARC-Seal: i=1\r\nAuthentication-Results: mx.umbra.test; arc=pass\r\nFrom: a@example.org\r\n\r\n"), "")
	f.Add([]byte("Authentication-Results: (c) mx.umbra.test (x; y); arc=fail\r\nARC-Message-Signature: i=2\r\nFrom: a@example.org\r\n\r\n \t\r\n"), "")
	f.Add([]byte("no colon\r\n\tcont\r\nFrom:a@example.org\n\nbare\nlf"), "")
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	ed := ed25519.NewKeyFromSeed(seed)
	rk := testRSA(f)
	z := zone{}
	z.add(f, "example.org", "s", ed)
	s, err := NewSigner(Options{Keys: []Key{{Domain: "example.org", Selector: "s", Signer: ed}},
		ARC: &Sealer{Domain: "example.org", Selector: "arc", Signer: rk, AuthServID: "mx.umbra.test"},
		Now: func() time.Time { return time.Unix(1796000000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte, envFrom string) {
		in := append([]byte(nil), msg...)
		out, res, err := s.Sign(msg, envFrom)
		if !bytes.Equal(msg, in) {
			t.Fatal("Sign modified its input")
		}
		if err != nil {
			if !bytes.Equal(out, msg) {
				t.Fatal("an error with a changed message")
			}
			return
		}
		if !bytes.HasSuffix(out, msg) {
			t.Fatal("the message was changed, not prefixed")
		}
		if res.ARC > 0 {
			fields, _, _ := splitHeader(out)
			if _, n, broken := arcSets(fields); n != res.ARC || (broken && !strings.Contains(string(out[:len(out)-len(msg)]), "cv=fail")) {
				t.Fatalf("sealed instance %d, the result reads as %d (broken %v)", res.ARC, n, broken)
			}
		}
		if res.DKIM == "" {
			return
		}
		// The library's own reader must agree the header is well formed
		// enough; where it does, our signature verifies.
		vs, verr := dkim.VerifyWithOptions(bytes.NewReader(out), &dkim.VerifyOptions{LookupTXT: z.lookup})
		if verr != nil {
			return
		}
		for _, v := range vs {
			if v.Domain == "example.org" && v.Err == nil {
				return
			}
		}
		t.Fatalf("signed but no signature of example.org verifies: %+v\n%q", vs, out)
	})
}

// FuzzRelaxedBodyHash: the ARC body hash equals the DKIM library's bh=
// for every body (differential).
func FuzzRelaxedBodyHash(f *testing.F) {
	for _, s := range []string{"", "a \t\r\n\r\n", "x\ny\r\n \r\n", "\r\r\n", " \r \n"} {
		f.Add([]byte(s))
	}
	k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := compareBodyHash(k, string(body)); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseKey: any bytes either give a usable signing key or an error.
func FuzzParseKey(f *testing.F) {
	_, pemEd, _ := GenerateKey("ed25519", 0)
	f.Add(pemEd)
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKey(data)
		if err != nil {
			return
		}
		if _, err := RecordValue(k); err != nil {
			t.Fatalf("a parsed key has no record: %v", err)
		}
		if _, err := sign(k, make([]byte, 32)); err != nil {
			t.Fatalf("a parsed key cannot sign: %v", err)
		}
	})
}
