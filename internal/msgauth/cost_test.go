package msgauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// bigHeader is a message with n "X-A: v" fields above From/To/Subject.
func bigHeader(n int, body string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("X-A: v\r\n")
	}
	b.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\n")
	b.WriteString(body)
	return b.String()
}

// A signature naming a field 60,000 times over a header of 60,000 such
// fields is not computed: permerror, named as too expensive.
func TestDKIMTooManySignedFieldsIsPermerror(t *testing.T) {
	const n = 60000
	body := "hello\r\n"
	bh := sha256.Sum256(canonBody([]byte(body), false))
	h := strings.TrimSuffix(strings.Repeat("x-a:", n), ":")
	sig := fmt.Sprintf("DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=example.org; s=sel; h=%s; bh=%s; b=AAAAAAAAAAAA\r\n",
		h, base64.StdEncoding.EncodeToString(bh[:]))
	msg := []byte(sig + bigHeader(n, body))
	fields, _ := splitHeader(msg)
	lookups := 0
	lookup := func(ctx context.Context, name string) ([]string, error) {
		lookups++
		return fakeTXT(nil)(ctx, name)
	}
	res := verifyDKIM(context.Background(), lookup, fields, msg, 5)
	if len(res) != 1 || res[0].value != "permerror" || !strings.Contains(res[0].reason, "header fields") {
		t.Fatalf("results %+v, want one permerror naming the h= size", res)
	}
	if res[0].domain != "example.org" || res[0].selector != "sel" {
		t.Errorf("result %+v does not name the signature", res[0])
	}
	if lookups != 0 {
		t.Errorf("%d key lookups for a signature that is not verified", lookups)
	}
}

// Header selection gives the same fields as go-msgauth's signer picks,
// bottom-up, with oversigning, over a header of many same-named fields:
// the signature passes with the pruned header.
func TestDKIMManyFieldsStillVerifies(t *testing.T) {
	k := edKey(t)
	msg := bigHeader(20000, "hello\r\n")
	keys := []string{"From", "Subject"}
	for i := 0; i < 40; i++ {
		keys = append(keys, "X-A")
	}
	keys = append(keys, "To", "To", "Reply-To") // oversigned and absent
	var out strings.Builder
	if err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: k.signer,
		HeaderKeys: keys}); err != nil {
		t.Fatal(err)
	}
	signed := []byte(out.String())
	lookup := fakeTXT(map[string]string{"sel._domainkey.example.org": k.record})
	fields, _ := splitHeader(signed)
	res := verifyDKIM(context.Background(), lookup, fields, signed, 5)
	if len(res) != 1 || res[0].value != "pass" {
		t.Fatalf("results %+v, want pass", res)
	}
	// A changed field among the signed bottom 40 breaks it; one above
	// them does not take part.
	s := string(signed)
	lines := strings.Split(s, "X-A: v\r\n")
	above := strings.Join(lines[:2], "X-A: w\r\n") + "X-A: v\r\n" + strings.Join(lines[2:], "X-A: v\r\n")
	fields, _ = splitHeader([]byte(above))
	if res := verifyDKIM(context.Background(), lookup, fields, []byte(above), 5); res[0].value != "pass" {
		t.Errorf("a field above the signed ones changed: %+v, want pass", res)
	}
	i := strings.LastIndex(s, "X-A: v\r\n")
	below := s[:i] + "X-A: w\r\n" + s[i+len("X-A: v\r\n"):]
	fields, _ = splitHeader([]byte(below))
	if res := verifyDKIM(context.Background(), lookup, fields, []byte(below), 5); res[0].value != "fail" {
		t.Errorf("a signed field changed: %+v, want fail", res)
	}
}

// When the session's context ends, verification stops and says why
// (temperror, not a DNS failure).
func TestDKIMCutOffWhenContextEnds(t *testing.T) {
	k := edKey(t)
	signed := []byte(dkimSign(t, bigHeader(3, strings.Repeat("line\r\n", 100000)), "example.org", "sel", k, dkim.CanonicalizationRelaxed, dkim.CanonicalizationRelaxed))
	lookup := fakeTXT(map[string]string{"sel._domainkey.example.org": k.record})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fields, _ := splitHeader(signed)
	res := verifyDKIM(ctx, lookup, fields, signed, 5)
	if len(res) != 1 || res[0].value != "temperror" || !strings.Contains(res[0].reason, "session ended") {
		t.Fatalf("results %+v, want temperror, session ended", res)
	}
}

// pickHeaders is linear: 100 names over 100,000 fields, the bottom-most
// first, each field taken once.
func TestPickHeadersBottomUp(t *testing.T) {
	var fs []field
	for i := 0; i < 100000; i++ {
		fs = append(fs, field{name: "X-A", raw: []byte(fmt.Sprintf("X-A: %d\r\n", i))})
	}
	fs = append(fs, field{name: "from", raw: []byte("From: x\r\n")})
	names := []string{"FROM", "from"}
	for i := 0; i < 98; i++ {
		names = append(names, "x-a")
	}
	got := pickHeaders(fs, names)
	if len(got) != 99 || string(got[0].raw) != "From: x\r\n" || string(got[1].raw) != "X-A: 99999\r\n" || string(got[98].raw) != "X-A: 99902\r\n" {
		t.Fatalf("picked %d: first %q second %q last %q", len(got), got[0].raw, got[1].raw, got[len(got)-1].raw)
	}
}

// An ARC-Message-Signature naming too many fields fails without being
// computed.
func TestARCTooManySignedFields(t *testing.T) {
	k := edKey(t)
	msg := arcSeal(t, bigHeader(2, "hi\r\n"), "fwd.example", "arc", k, "none", "dmarc=pass header.from=example.org")
	msg = strings.Replace(msg, "h=from:to:subject:date;", "h="+strings.TrimSuffix(strings.Repeat("x-a:", 500), ":")+";", 1)
	fields, body := splitHeader([]byte(msg))
	res := verifyARC(context.Background(), fakeTXT(map[string]string{"arc._domainkey.fwd.example": k.record}), fields, body)
	if res.value != "fail" || !strings.Contains(res.reason, "header fields") {
		t.Fatalf("arc %+v, want fail naming the h= size", res)
	}
}

// EDGE: the red team's message over SMTP — 60,000 X-A fields, a
// signature naming x-a 60,000 times with a correct body hash — is
// answered on what it is (dkim=permerror, the signature not computed),
// not with a DNS failure.
func TestExpensiveSignatureOverSMTP(t *testing.T) {
	e := startEdge(t, "{profile: internet}", senderZone...)
	const n = 60000
	body := "hello bob\r\n"
	bh := sha256.Sum256(canonBody([]byte(body), false))
	// h= folded, 100 names a line (the line length limit).
	h := strings.TrimSuffix(strings.Repeat(strings.Repeat("x-a:", 100)+"\r\n\t", n/100), ":\r\n\t")
	var b strings.Builder
	fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=none.test; s=sel; h=%s; bh=%s; b=AAAAAAAAAAAA\r\n",
		h, base64.StdEncoding.EncodeToString(bh[:]))
	for i := 0; i < n; i++ {
		b.WriteString("X-A: v\r\n")
	}
	b.WriteString("From: <a@none.test>\r\nTo: bob@example.test\r\nSubject: cost\r\n\r\n" + body)
	got := e.send(t, "client.test", "a@none.test", b.String())
	if !strings.HasPrefix(got, "250") {
		t.Fatalf("reply %q, want 250 (p=none)", got)
	}
	_, queued := e.q.last(t)
	wantAll(t, authResults(t, queued), "dkim=permerror (signature names more than 100 header fields", "dmarc=fail")
}
