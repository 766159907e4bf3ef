package resolver_test

import (
	"context"
	"strings"
	"testing"

	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A name whose labels hold bytes outside letters, digits and hyphen —
// an SPF macro's expansion of a sender's local part ("user2@s20.test",
// "o'brien"), a space or a quote from a quoted local part, UTF-8 — is
// a name like any other (RFC 2181 §11): the server's reply repeats the
// question byte for byte, and the DNS library writes it back in text
// with those bytes escaped ("user2\@s20"). The reply is the answer to
// the question asked, its records are the name's: never "reply
// question mismatch" (a temporary failure for ever: SPF temperror, 451
// under DMARC p=reject until the message bounced). The cache keeps one
// entry per name on the wire: "a@b" and "a\@b" are one name, "É" and
// "é" two (RFC 4343: only ASCII letters fold).
func TestNameWithSpecialBytesAnswered(t *testing.T) {
	dns := dnstest.StartOn(t, "127.0.0.125:9401",
		`user2\@s20.test.ok.x.test. 60 IN A 127.0.0.2`,
		`o\'brien.ok.x.test. 60 IN A 127.0.0.3`,
		`a\ b\;c\(d\)\"e.ok.x.test. 60 IN TXT "spaced"`,
		`\195\137lise.ok.x.test. 60 IN TXT "upper"`,
		`\195\169lise.ok.x.test. 60 IN TXT "lower"`,
	)
	c := newClient(t, dns.Addr)
	for name, want := range map[string]string{
		"user2@s20.test.ok.x.test":   "127.0.0.2",
		"USER2@S20.test.ok.x.test.":  "127.0.0.2", // 0x20: ASCII case folds
		`user2\@s20.test.ok.x.test.`: "127.0.0.2", // the same name, escaped
		"o'brien.ok.x.test":          "127.0.0.3",
	} {
		ips, err := c.LookupHost(context.Background(), name)
		if err != nil || strings.Join(ips, ",") != want {
			t.Errorf("%s: %v %v, want %s", name, ips, err, want)
		}
	}
	for name, want := range map[string]string{
		`a b;c(d)"e.ok.x.test`: "spaced",
		"Élise.ok.x.test":      "upper",
		"élise.ok.x.test":      "lower",
	} {
		txt, err := c.LookupTXT(context.Background(), name)
		if err != nil || strings.Join(txt, ",") != want {
			t.Errorf("%s: %v %v, want %s", name, txt, err, want)
		}
	}

	cache := resolver.NewCache(c, resolver.CacheConfig{})
	for _, n := range []string{"Élise.ok.x.test", "élise.ok.x.test", "Élise.ok.x.test"} {
		txt, err := cache.LookupTXT(context.Background(), n)
		want := map[bool]string{true: "upper", false: "lower"}[strings.HasPrefix(n, "É")]
		if err != nil || strings.Join(txt, ",") != want {
			t.Errorf("cached %s: %v %v, want %s", n, txt, err, want)
		}
	}
}
