package signing

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// The streamed relaxed body hash is the whole one, however the body is
// cut into writes.
func TestRelaxedBodyHasherMatchesWhole(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	alphabet := []byte("ab \t\r\n")
	var bodies [][]byte
	for i := 0; i < 500; i++ {
		b := make([]byte, rnd.Intn(300))
		for k := range b {
			b[k] = alphabet[rnd.Intn(len(alphabet))]
		}
		bodies = append(bodies, b)
	}
	// Runs of line breaks past what the hasher holds, inside the body and
	// at its end.
	breaks := strings.Repeat("\r\n", maxPendingBreaks) + "\n\r\r\n" + strings.Repeat("\n", maxPendingBreaks+3)
	bodies = append(bodies, []byte("a"+breaks+"b \t\r\n"+breaks), []byte(breaks+"x"), []byte(breaks))
	for _, b := range bodies {
		want := relaxedBodyHash(b)
		h := newRelaxedBodyHasher()
		for rest := b; len(rest) > 0; {
			n := 1 + rnd.Intn(len(rest))
			h.Write(rest[:n])
			rest = rest[n:]
		}
		if got := h.Sum(); !bytes.Equal(got, want) {
			t.Fatalf("body %q: streamed hash differs", b)
		}
	}
}

// SignOriginStream's fields, sent in front of the message, verify like
// SignOrigin's (DKIM by the library); two passes make the same ARC set
// as one for the same message and instant.
func TestSignOriginStreamVerifies(t *testing.T) {
	ed := testEd25519(t)
	rk := testRSA(t)
	z := zone{}
	z.add(t, "example.org", "ed1", ed)
	clock := func() time.Time { return time.Unix(1796000000, 0) }
	opts := func() Options {
		return Options{Now: clock, Keys: []Key{{Domain: "example.org", Selector: "ed1", Signer: ed}},
			ARC: &Sealer{Domain: "umbra.test", Selector: "arc1", Signer: rk, AuthServID: "mx.umbra.test"}}
	}
	big := plain + strings.Repeat("a line of the body, with  spaces \r\n", 5000)
	for _, msg := range []string{plain, big, "From: alice@example.org\r\n\r\n",
		"Authentication-Results: mx.umbra.test; spf=pass smtp.mailfrom=alice@example.org\r\n" + plain} {
		s, err := NewSigner(opts())
		if err != nil {
			t.Fatal(err)
		}
		hdr := msg[:strings.Index(msg, "\r\n\r\n")+4]
		prefix, res, err := s.SignOriginStream([]byte(hdr), strings.NewReader(msg), "", true)
		if err != nil || res.DKIM != "example.org" {
			t.Fatalf("stream sign: %v %+v", err, res)
		}
		out := append(prefix, msg...)
		if ok, failed := verify(t, z, out); len(ok) != 1 || len(failed) != 0 {
			t.Fatalf("streamed signature: ok %v failed %v", ok, failed)
		}
		one, err := NewSigner(opts())
		if err != nil {
			t.Fatal(err)
		}
		whole, res1, err := one.SignOrigin([]byte(msg), "", true)
		if err != nil || res1 != res {
			t.Fatalf("whole sign: %v %+v vs %+v", err, res1, res)
		}
		if res.ARC != 0 {
			// The ARC set is deterministic (RSA PKCS #1 v1.5, fixed clock)
			// and names the same body hash.
			set := func(b []byte) string { return string(b[:bytes.Index(b, []byte("DKIM-Signature:"))]) }
			if set(whole) != set(out) {
				t.Fatalf("ARC sets differ:\n%s\n--\n%s", set(whole), set(out))
			}
		}
		// A second streamed signing of the same message is the cached one.
		again, _, err := s.SignOriginStream([]byte(hdr), strings.NewReader(msg), "", true)
		if err != nil || !bytes.Equal(again, prefix) {
			t.Fatalf("second streamed signing differs: %v", err)
		}
	}
}
