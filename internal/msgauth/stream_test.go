package msgauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// crlfOnly makes b's line ends CRLF, as the receive session delivers a
// message to the checks (bare CR and LF refused or normalised).
func crlfOnly(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// FuzzBodyHash: the streamed body hash, fed in pieces cut anywhere, is
// SHA-256 of canonBody of the whole, simple and relaxed.
func FuzzBodyHash(f *testing.F) {
	for _, s := range []string{"", "\r\n", "a", "a \t b \r\n\r\n", " \r\n\r\nx\r\n\r\n\r\n", "x\t\r\n  \r\n", "\r\n\r\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		b = crlfOnly(b)
		for _, relaxed := range []bool{false, true} {
			want := sha256.Sum256(canonBody(b, relaxed))
			h := newBodyHasher(relaxed)
			step := int(cut) + 1
			for i := 0; i < len(b); i += step {
				h.Write(b[i:min(i+step, len(b))])
			}
			if got := h.Sum(); !bytes.Equal(got, want[:]) {
				t.Fatalf("%q relaxed %v: streamed hash differs from canonBody %q", b, relaxed, canonBody(b, relaxed))
			}
		}
	})
}

// opener is a Transaction.Rest of s.
func opener(s string) restOpener {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

// A spooled message (header section in Content, the rest through a
// reader) verifies exactly as the whole message does: DKIM and ARC.
func TestVerifySpooledBody(t *testing.T) {
	k1, k2 := edKey(t), rsaKey(t)
	recs := map[string]string{"s1._domainkey.lists.test": k1.record, "s2._domainkey.fwd.test": k2.record,
		"sel._domainkey.origin.test": k1.record}
	long := plain + strings.Repeat("a line of the body  with\t white space \r\n\r\n", 5000) + "\r\n\r\n"
	one := arcSeal(t, long, "lists.test", "s1", k1, "none", "spf=pass smtp.mailfrom=origin.test")
	relaxedSig := dkimSign(t, long, "origin.test", "sel", k1, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed)
	simpleSig := dkimSign(t, long, "origin.test", "sel", k1, dkim.CanonicalizationSimple, dkim.CanonicalizationSimple)
	for _, msg := range []string{one, relaxedSig, simpleSig, strings.Replace(one, "white", "WHITE", 1), strings.Replace(relaxedSig, "white", "WHITE", 1)} {
		fields, body := splitHeader([]byte(msg))
		head := msg[:len(msg)-len(body)]
		for _, at := range []int{0, 1, 7, len(body) / 2} { // where Content ends inside the body: the spool file's part starts
			content, rest := head+string(body[:at]), string(body[at:])
			wantARC := verifyARC(context.Background(), fakeTXT(recs), fields, body)
			gotARC := verifyARCRest(context.Background(), fakeTXT(recs), fields, []byte(content[len(head):]), opener(rest))
			if gotARC != wantARC {
				t.Errorf("ARC: spooled %+v, whole %+v", gotARC, wantARC)
			}
			wantDKIM := verifyDKIM(context.Background(), fakeTXT(recs), fields, []byte(msg), 5)
			gotDKIM := verifyDKIMRest(context.Background(), fakeTXT(recs), fields, []byte(content), opener(rest), 5)
			if len(gotDKIM) != len(wantDKIM) || len(wantDKIM) > 0 && gotDKIM[0] != wantDKIM[0] {
				t.Errorf("DKIM: spooled %+v, whole %+v", gotDKIM, wantDKIM)
			}
		}
	}
	// The verdicts are not all one: the test sees passes and fails.
	fields, body := splitHeader([]byte(one))
	if r := verifyARC(context.Background(), fakeTXT(recs), fields, body); r.value != "pass" {
		t.Fatalf("sealed message: %+v", r)
	}
	fields, _ = splitHeader([]byte(relaxedSig))
	if r := verifyDKIM(context.Background(), fakeTXT(recs), fields, []byte(relaxedSig), 5); len(r) != 1 || r[0].value != "pass" {
		t.Fatalf("signed message: %+v", r)
	}
	bad := strings.Replace(one, "white", "WHITE", 1)
	fields, body = splitHeader([]byte(bad))
	if r := verifyARCRest(context.Background(), fakeTXT(recs), fields, nil, opener(string(body))); r.value != "fail" || !strings.Contains(r.reason, "body hash") {
		t.Fatalf("changed body: %+v", r)
	}
}

// Over SMTP, a large signed and sealed message is authenticated the
// same whether its body was spooled or held in memory: the same stored
// message, Authentication-Results included, by DATA and by BDAT.
func TestSpooledMessageOverSMTP(t *testing.T) {
	ed, k := edKey(t), edKey(t)
	zone := append(senderZone, zoneTXT("ed._domainkey.reject.test", ed.record), zoneTXT("arc._domainkey.lists.test", k.record))
	mem := startEdgeWith(t, 0, "{profile: internet}", zone...)
	spooled := startEdgeWith(t, 4096, "{profile: internet}", zone...)
	big := strings.Repeat("a line of a large body,  with\t white space \r\n", 4000)
	signed := dkimSign(t, message("a@reject.test", "signed")+big, "reject.test", "ed", ed, dkim.CanonicalizationRelaxed, dkim.CanonicalizationSimple)
	sealed := arcSeal(t, message("a@none.test", "arc")+big, "lists.test", "arc", k, "none", "spf=pass smtp.mailfrom=none.test")
	broken := strings.Replace(sealed, "a large body", "a LARGE body", 1)
	for _, c := range []struct{ from, msg, want string }{
		{"a@reject.test", signed, "dkim=pass"},
		{"a@none.test", sealed, "arc=pass (i=1)"},
		{"a@none.test", broken, "arc=fail (i=1 message signature: body hash does not match)"},
	} {
		for _, bdat := range []bool{false, true} {
			var bodies [2]string
			for i, e := range []*edge{mem, spooled} {
				if got := e.sendWith(t, "client.test", c.from, c.msg, bdat); !strings.HasPrefix(got, "250") {
					t.Fatalf("reply %q", got)
				}
				_, body := e.q.last(t)
				wantAll(t, authResults(t, body), c.want)
				fields, _ := splitHeader([]byte(body))
				bodies[i] = body[len(fields[0].raw):] // past umbra's Received field (queue id, time)
			}
			if bodies[0] != bodies[1] {
				t.Errorf("%s bdat %v: spooled and in-memory messages differ:\n%.600s\n---\n%.600s", c.want, bdat, bodies[1], bodies[0])
			}
		}
	}
	if len(spooled.q.spooled) != 6 || !spooled.q.spooled[5] {
		t.Fatalf("spooled %v", spooled.q.spooled)
	}
}
