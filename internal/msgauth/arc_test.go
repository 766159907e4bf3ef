package msgauth

import (
	"context"
	"net"
	"strings"
	"testing"
)

const plain = "From: Alice <alice@origin.test>\r\nTo: list@lists.test\r\nSubject: hello\r\n" +
	"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\n\r\nhello list\r\n"

func arcOf(t *testing.T, msg string, recs map[string]string) arcResult {
	t.Helper()
	fields, body := splitHeader([]byte(msg))
	return verifyARC(context.Background(), fakeTXT(recs), fields, body)
}

// RFC 8617 §5.2: the chain of the latest set, case by case.
func TestARCVerification(t *testing.T) {
	k1, k2 := edKey(t), rsaKey(t)
	recs := map[string]string{"s1._domainkey.lists.test": k1.record, "s2._domainkey.fwd.test": k2.record}
	one := arcSeal(t, plain, "lists.test", "s1", k1, "none", "spf=pass smtp.mailfrom=origin.test")
	// The second hop changes the body (a list footer): the first AMS
	// breaks, the chain still validates, which is ARC's point.
	footer := strings.Replace(one, "hello list\r\n", "hello list\r\n-- \r\nfooter\r\n", 1)
	two := arcSeal(t, footer, "fwd.test", "s2", k2, "pass", "arc=pass")

	for _, c := range []struct {
		name, msg, want, reason string
	}{
		{"no ARC", plain, "none", ""},
		{"one set", one, "pass", ""},
		{"two sets, first AMS broken by the footer", two, "pass", ""},
		{"body changed after the last seal", strings.Replace(two, "footer", "FOOTER", 1), "fail", "body hash"},
		{"signed header changed", strings.Replace(one, "Subject: hello", "Subject: hellO", 1), "fail", "message signature"},
		{"first seal's cv changed", strings.Replace(two, "cv=none", "cv=pass", 1), "fail", "cv 'pass', want none"},
		{"latest seal says fail", arcSeal(t, footer, "fwd.test", "s2", k2, "fail", "arc=fail"), "fail", "cv 'fail'"},
		{"second hop claims cv=none", arcSeal(t, footer, "fwd.test", "s2", k2, "none", "arc=pass"), "fail", "cv 'none', want pass"},
		{"first AAR rewritten", strings.Replace(two, "spf=pass smtp.mailfrom=origin.test", "spf=pass smtp.mailfrom=evil.test", 1), "fail", "seal"},
		{"AAR missing", removeField(one, "ARC-Authentication-Results"), "fail", "incomplete"},
		{"AMS missing", removeField(one, "ARC-Message-Signature"), "fail", "incomplete"},
		{"instance 2 without 1", strings.Replace(strings.Replace(one, "i=1", "i=2", 3), "cv=none", "cv=pass", 1), "fail", "incomplete"},
		{"instance duplicated", strings.SplitAfter(one, "\r\n")[0] + one, "fail", "two ARC-Seal"},
		{"instance 0", strings.Replace(one, "ARC-Seal: i=1", "ARC-Seal: i=0", 1), "fail", "bad instance"},
		{"instance 51", strings.Replace(one, "ARC-Seal: i=1", "ARC-Seal: i=51", 1), "fail", "bad instance"},
	} {
		got := arcOf(t, c.msg, recs)
		if got.value != c.want || !strings.Contains(got.reason, c.reason) {
			t.Errorf("%s: %+v, want %s (%s)", c.name, got, c.want, c.reason)
		}
	}
	if got := arcOf(t, two, recs); got.instance != 2 || got.domain != "fwd.test" {
		t.Errorf("two sets: %+v", got)
	}
	// Keys: an unknown selector fails; a DNS failure is a temperror.
	if got := arcOf(t, one, map[string]string{}); got.value != "fail" {
		t.Errorf("no key: %+v", got)
	}
	fields, body := splitHeader([]byte(one))
	servfail := func(_ context.Context, name string) ([]string, error) {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	if got := verifyARC(context.Background(), servfail, fields, body); got.value != "temperror" {
		t.Errorf("SERVFAIL: %+v", got)
	}
	// A revoked key fails.
	if got := arcOf(t, one, map[string]string{"s1._domainkey.lists.test": "v=DKIM1; k=ed25519; p="}); got.value != "fail" || !strings.Contains(got.reason, "revoked") {
		t.Errorf("revoked: %+v", got)
	}
}

func removeField(msg, name string) string {
	fields, body := splitHeader([]byte(msg))
	var b strings.Builder
	for _, f := range fields {
		if !f.is(name) {
			b.Write(f.raw)
		}
	}
	return b.String() + "\r\n" + string(body)
}

func TestAARProperty(t *testing.T) {
	for _, c := range []struct{ v, want string }{
		{"i=1; lists.test; spf=pass smtp.mailfrom=x.test; dmarc=pass header.from=Reject.Test.", "reject.test"},
		{"i=1; lists.test; dmarc=pass (p=reject; c) header.from=\"a.test\"", ""}, // the ';' in the comment cuts it (as aarResult)
		{"i=1; lists.test; dmarc=pass (ok) header.from=a.test", "a.test"},
		{"i=1; lists.test; dkim=pass header.from=a.test; dmarc=pass", ""},
		{"i=1; lists.test", ""},
	} {
		if got := aarProperty(c.v, "dmarc", "header.from"); got != c.want {
			t.Errorf("%q: %q, want %q", c.v, got, c.want)
		}
	}
}
