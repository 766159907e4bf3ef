package msgauth

import (
	"context"
	"strings"
	"testing"
)

// A signature refused before its hash is computed (more than
// maxSignedFields fields signed) still reports the identity it claims
// (header.i, RFC 8601 §2.7.1) next to its domain and selector: the result
// names the signature the verdict is about.
func TestUnverifiedSignatureKeepsItsIdentity(t *testing.T) {
	h := strings.TrimSuffix(strings.Repeat("x-a:", maxSignedFields+1), ":")
	msg := "DKIM-Signature: v=1; a=rsa-sha256; d=example.test; i=@mail.example.test; s=s1; h=" + h +
		"; bh=AAAA; b=AAAAAAAAAAAA\r\nFrom: a@example.test\r\n\r\nbody\r\n"
	fields, _ := splitHeader([]byte(msg))
	res := verifyDKIM(context.Background(), nil, fields, []byte(msg), 5)
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	if r := res[0]; r.value != "permerror" || r.domain != "example.test" || r.identity != "@mail.example.test" || r.selector != "s1" {
		t.Fatalf("result %+v: want permerror for d=example.test i=@mail.example.test s=s1", r)
	}
}
