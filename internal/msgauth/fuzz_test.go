package msgauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// The header splitter keeps every byte: fields, the empty line and the
// body rebuild the message.
func FuzzSplitHeader(f *testing.F) {
	for _, s := range []string{tricky, plain, "", "A: b\r\n folded\r\n\r\n", " x\r\n\r\n", "A: b\n\nbody", "no colon\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, body := splitHeader(msg)
		h := joinFields(fields)
		if !strings.HasPrefix(string(msg), string(h)) || !strings.HasSuffix(string(msg), string(body)) {
			t.Fatalf("header %q body %q not of %q", h, body, msg)
		}
		if sep := len(msg) - len(h) - len(body); sep < 0 || sep > 2 {
			t.Fatalf("%d bytes lost between header and body", sep)
		}
		kept := fields[:0:0]
		for _, f := range fields {
			if !f.is("Authentication-Results") {
				kept = append(kept, f)
			}
		}
		_ = rebuild([]byte("X: y\r\n"), fields, kept, msg)
	})
}

// ARC verification of arbitrary messages never panics and answers one
// of its results; the seeds are real chains (with their keys served).
func FuzzARC(f *testing.F) {
	k := edKey(f)
	recs := map[string]string{"s1._domainkey.lists.test": k.record}
	one := arcSeal(f, plain, "lists.test", "s1", k, "none", "spf=pass")
	f.Add([]byte(one))
	f.Add([]byte(arcSeal(f, one, "lists.test", "s1", k, "pass", "arc=pass")))
	f.Add([]byte("ARC-Seal: i=1; cv=none; a=rsa-sha256; d=x.test; s=s; b=AAAA\r\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; d=x.test; s=s; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=1; x.test; none\r\nFrom: a@x.test\r\n\r\nbody\r\n"))
	lookup := fakeTXT(recs)
	f.Fuzz(func(t *testing.T, msg []byte) {
		fields, body := splitHeader(msg)
		r := verifyARC(context.Background(), lookup, fields, body)
		switch r.value {
		case "none", "pass", "fail", "temperror":
		default:
			t.Fatalf("result %q", r.value)
		}
		if r.value == "pass" && (r.instance < 1 || r.instance > maxARCInstance) {
			t.Fatalf("pass with instance %d", r.instance)
		}
	})
}

// Tag lists and key records: no panic; a parsed list has valid names.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"v=DKIM1; k=rsa; p=MIIB", "a=1;b=2;", " i = 1 ;\r\n\tcv=pass", "a=1; a=2", "=", ";;", "k=ed25519; p=" + strings.Repeat("A", 44)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTags(s)
		if err == nil {
			for k := range tags {
				if !validTagName(k) {
					t.Fatalf("tag name %q", k)
				}
			}
		}
		parseKeyRecord(s)
		instanceNumber(s)
		aarInstance(s)
		if r := aarProperty(s, "dmarc", "header.from"); strings.ContainsAny(r, " \t\r\n(") {
			t.Fatalf("aarProperty = %q", r)
		}
		if r := aarResult(s, "dmarc"); strings.ContainsAny(r, " \t\r\n(") {
			t.Fatalf("aarResult = %q", r)
		}
		withoutSigValue([]byte("X: " + s))
	})
}

// The authserv-id umbra reads from a field, and the field umbra writes:
// whatever the reasons and values, umbra writes one field that claims
// its own authserv-id.
func FuzzAuthResults(f *testing.F) {
	for _, s := range []string{"mx.test; spf=pass", "(c) \"q\\\"x\"; none", "\r\n\tmx; x", "((", ""} {
		f.Add(s, "reason (with) parens\r\nand lines", "a/b=c;d")
	}
	f.Fuzz(func(t *testing.T, v, comment, prop string) {
		authservID(v)
		out := formatAuthResults("mx.example.test", []result{{method: "spf", value: "fail", comment: comment,
			props: [][2]string{{"smtp.mailfrom", prop}}}})
		fields, body := splitHeader(append(out, "\r\n"...))
		if len(fields) != 1 || !fields[0].is("Authentication-Results") || len(body) != 0 {
			t.Fatalf("wrote %q", out)
		}
		if id := authservID(fields[0].value()); id != "mx.example.test" {
			t.Fatalf("authserv-id %q in %q", id, out)
		}
		// The field is ASCII; a value's other characters are '?', one
		// each, never dropped (rt20b-F5).
		for i := 0; i < len(out); i++ {
			if out[i] >= 0x7f {
				t.Fatalf("byte 0x%x in %q", out[i], out)
			}
		}
		if w := pvalue(prop); utf8.ValidString(prop) && prop != "" {
			if strings.HasPrefix(w, `"`) {
				w = strings.NewReplacer(`\\`, "x", `\"`, "x").Replace(w[1 : len(w)-1])
			}
			if utf8.RuneCountInString(w) != utf8.RuneCountInString(prop) {
				t.Fatalf("%q written as %q: characters dropped", prop, pvalue(prop))
			}
		}
	})
}

// fromDomain reads any From: value without panicking, and what it
// returns is a lower-case domain name without a final dot whose last
// label starts with a letter and is not one character (rt21b L5,
// bidi23), or an error.
func FuzzFromDomain(f *testing.F) {
	for _, s := range []string{"a@example.org.", "A <a@[IPv6:2001:db8::1]>", "a@x.test, b@y.test", "team: a@x.test;", `"q\"(" (c(d)) <a@x.test>`, "a@[1.2.3.4", "<<a@b>>,", "(((", `"\`,
		"a@127.0.0.1", "a@0x7f.1", "a@x.1test", "a@[127.0.0.1], b@127.0.0.1", "\"Bob @ St. Mary's\" <a@x.test>",
		"\"\x1b$B$3$s$K$A$O\x1b(B\" <a@x.test>", "a@x.test (ceo\x1b$B!w\x1b(By.test)",
		"a@x.y", "a@x.y.", "\"\x1b$B$\"$(\x1b(B\" <a@x.test>", "\"\u200forg \u200f. \u200fexample \u200f@ \u200fceo\" <a@x.test>",
		"\"Events @ Mt. St. Helen's\" <a@x.test>", "\"Team@Acme\" <a@x.test>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			return
		}
		d, err := fromDomain(mustFields("From: "+v+"\r\n"), nil)
		if err == nil && (d == "" || strings.HasSuffix(d, ".") || d != strings.ToLower(d) || !topLabelIsName(d)) {
			t.Fatalf("%q: domain %q", v, d)
		}
	})
}

// The DMARC record parser and the key record rewrite: no panic, the
// record discovery and the parser agree, and a rewritten key record is
// a valid tag list with the same tags (rt22b M1, L1).
func FuzzTagRecords(f *testing.F) {
	for _, s := range []string{"v=DMARC1;\tp=reject", "V=DMARC1; p=reject\t", "v=DMARC1\t; p=reject", "v=DMARC1;\r\n\tp=reject",
		"v\t=\tDMARC1", "v=DMARC1; p=none; P=reject", "v=DKIM1;\tk=ed25519;\tp=AAAA\tBBBB", "k=rsa; n=a note; p=", "v=dmarc1; p=reject", "v=DMARC1;\fp=reject"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, _, err := parseDMARCRecord(s)
		if isDMARCRecord(s) != (err == nil || err == errNoValidPolicy || errors.As(err, new(*repeatedTagError))) {
			t.Fatalf("isDMARCRecord(%q) = %v, parse: %v", s, isDMARCRecord(s), err)
		}
		if err == nil && rec.Policy == "" {
			t.Fatalf("record %q without a policy", s)
		}
		want, err := parseTags(s)
		if err != nil {
			return
		}
		got, err := parseTags(keyRecordAsRead(s))
		if err != nil || len(got) != len(want) {
			t.Fatalf("keyRecordAsRead(%q) = %q: %v, %v", s, keyRecordAsRead(s), got, err)
		}
	})
}
