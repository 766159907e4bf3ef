package msgauth

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

const tricky = "From: Alice <alice@signed.test>\r\n" +
	"To:   bob@example.test\r\n" +
	"Subject:   hello \t  world  \r\n\tfolded:  on   two lines\r\n" +
	"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n" +
	"\r\n" +
	"line with trailing space   \r\n" +
	"  tabs\tand   runs \r\n" +
	"\r\n" +
	"last\r\n\r\n\r\n"

// The canonicalizations and signature checks ARC relies on, checked
// against go-msgauth's DKIM signer (an independent implementation): a
// DKIM-Signature verified by the AMS path must pass for every
// canonicalization and both key types, and fail once the body changes.
func TestCanonicalizationAgainstDKIMSigner(t *testing.T) {
	keys := map[string]testKey{"ed25519": edKey(t), "rsa": rsaKey(t)}
	for kn, k := range keys {
		for _, hc := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
			for _, bc := range []dkim.Canonicalization{dkim.CanonicalizationSimple, dkim.CanonicalizationRelaxed} {
				for _, body := range []string{tricky, strings.SplitAfter(tricky, "\r\n\r\n")[0], strings.SplitAfter(tricky, "\r\n\r\n")[0] + "\r\n\r\n"} {
					name := kn + "/" + string(hc) + "/" + string(bc)
					signed := dkimSign(t, body, "signed.test", "sel", k, hc, bc)
					lookup := func(d, s string) (*pubKey, error) { return parseKeyRecord(k.record) }
					if err := verifyAsAMS(signed, lookup); err != nil {
						t.Errorf("%s: %v\n%s", name, err, signed)
					}
					changed := strings.Replace(signed, "\r\n\r\n", "\r\n\r\nX", 1)
					if err := verifyAsAMS(changed, lookup); err == nil {
						t.Errorf("%s: changed body verified", name)
					}
				}
			}
		}
	}
}

func verifyAsAMS(msg string, key keyFunc) error {
	fields, body := splitHeader([]byte(msg))
	for i := range fields {
		if fields[i].is("DKIM-Signature") {
			tags, err := parseTags(fields[i].value())
			if err != nil {
				return err
			}
			return verifyAMS(fields, body, nil, arcSet{ams: &fields[i], sig: tags}, key)
		}
	}
	return nil
}

func TestCanonBody(t *testing.T) {
	for _, c := range []struct {
		in              string
		simple, relaxed string
	}{
		{"", "\r\n", ""},
		{"\r\n\r\n", "\r\n", ""},
		{"a \r\n\r\n", "a \r\n", "a\r\n"},
		{" a\t b \r\nc", " a\t b \r\nc\r\n", " a b\r\nc\r\n"},
	} {
		if got := string(canonBody([]byte(c.in), false)); got != c.simple {
			t.Errorf("simple %q = %q, want %q", c.in, got, c.simple)
		}
		if got := string(canonBody([]byte(c.in), true)); got != c.relaxed {
			t.Errorf("relaxed %q = %q, want %q", c.in, got, c.relaxed)
		}
	}
	if got := string(relaxedHeader([]byte("SubJect :  a:  b \r\n\t c  \r\n"))); got != "subject:a: b c\r\n" {
		t.Errorf("relaxed header = %q", got)
	}
}

func TestSplitHeaderRoundTrip(t *testing.T) {
	for _, m := range []string{tricky, "", "no header end", "A: b\r\n folded\r\n", " leading: fold\r\nX: y\r\n\r\nbody", "A: b\n\nbody\n"} {
		fields, body := splitHeader([]byte(m))
		got := string(joinFields(fields))
		if !strings.HasPrefix(m, got) || !strings.HasSuffix(m, string(body)) || len(m)-len(got)-len(body) > 2 {
			t.Errorf("%q: header %q body %q", m, got, body)
		}
	}
	fields, _ := splitHeader([]byte(tricky))
	if len(fields) != 4 || fields[2].name != "Subject" || !strings.Contains(fields[2].value(), "two lines") {
		t.Fatalf("fields = %+v", fields)
	}
}

// The organisation's resolver addresses stay out of the header.
func TestCommentHidesDNSServer(t *testing.T) {
	in := "dkim: key unavailable: lookup sel._domainkey.x.test on 10.1.2.3:53: server misbehaving (x)"
	if got := commentText(in); got != "dkim: key unavailable: lookup sel._domainkey.x.test: server misbehaving x" {
		t.Errorf("commentText = %q", got)
	}
}

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.test; spf=pass":               "mx.test",
		"mx.test 1; dkim=pass":             "mx.test",
		" (comment (nested)) MX.test;none": "MX.test",
		`"mx.test"; none`:                  "mx.test",
		"\r\n\tmx.test;\r\n\tspf=pass":     "mx.test",
		"":                                 "",
		"(unterminated":                    "",
	} {
		if got := authservID(in); got != want {
			t.Errorf("authservID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTags(t *testing.T) {
	tags, err := parseTags(" a = rsa-sha256 ;\r\n\tb= ab cd ; bh=x;")
	if err != nil || tags["a"] != "rsa-sha256" || stripWSP(tags["b"]) != "abcd" || tags["bh"] != "x" {
		t.Fatalf("tags %v %v", tags, err)
	}
	for _, bad := range []string{"a=1; a=2", "novalue", "1a=x", "=x"} {
		if _, err := parseTags(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDomains(t *testing.T) {
	for _, c := range []struct {
		a, b   string
		strict bool
		want   bool
	}{
		{"mail.example.co.uk", "example.co.uk", false, true},
		{"mail.example.co.uk", "example.co.uk", true, false},
		{"a.example.test", "b.example.test", false, true},
		{"example.co.uk", "other.co.uk", false, false},
		{"Example.TEST", "example.test", true, true},
	} {
		mode := "r"
		if c.strict {
			mode = "s"
		}
		if got := aligned(c.a, c.b, alignmentMode(mode)); got != c.want {
			t.Errorf("aligned(%s, %s, %s) = %v", c.a, c.b, mode, got)
		}
	}
	if d, err := fromDomain(mustFields("From: a@x.test, b@X.test\r\n"), nil); err != nil || d != "x.test" {
		t.Errorf("same-domain From: %q %v", d, err)
	}
	for h, want := range map[string]string{
		"From: Jörg <j@Bücher.test>\r\n":              "xn--bcher-kva.test",
		"From: John Q. Public <john@x.test>\r\n":      "x.test",
		"From: =?utf-8?q?J=C3=B6rg?= <j@x.test.>\r\n": "x.test",
	} {
		if d, err := fromDomain(mustFields(h), nil); err != nil || d != want {
			t.Errorf("%q: %q %v, want %s", h, d, err, want)
		}
	}
	for _, h := range []string{"From: undisclosed-recipients:;\r\n", "From: a@[192.0.2.1]\r\n", "From: a@x.test, b@y.test\r\n", "From: a@x.test\r\nFrom: b@x.test\r\n", "Subject: none\r\n", "From: undisclosed\r\n",
		"From: broken \"quote <a@x.test>\r\n", // an unterminated quote: who the author is depends on the reader
		// rt21b L5: IP-address text, a last label that does not start
		// with a letter, is no domain name.
		"From: a@127.0.0.1\r\n", "From: a@999.999.999.999\r\n", "From: a@0x7f.1\r\n", "From: a@x.test, b@127.0.0.1\r\n",
		"From: a@[127.0.0.1], b@127.0.0.1\r\n", "From: a@x.1test\r\n", "From: a@x._test\r\n",
	} {
		if d, err := fromDomain(mustFields(h), nil); err == nil {
			t.Errorf("%q: domain %q", h, d)
		}
	}
}

func mustFields(h string) []field {
	f, _ := splitHeader([]byte(h + "\r\n"))
	return f
}
