package console

import (
	"net/url"
	"strings"
	"testing"
)

// browserPath is what a browser makes of a Location header's value
// before it resolves it (the URL standard): C0 controls and spaces cut
// from both ends, every tab and line break removed, a backslash read as
// a slash.
func browserPath(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	return strings.ReplaceAll(s, `\`, "/")
}

// safeNext takes the next and back fields of the login and action
// forms (anyone's bytes): whatever they hold, the redirect stays on the
// console — a path of its own, which a browser does not read as another
// host (//host, /\host, /<tab>/host).
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{
		"/", "/queues", "/messages/0123456789abcdef?x=1", "//evil.example", `/\evil.example`,
		"https://evil.example/", "/\t/evil.example", "/\n/evil.example", "\t//evil.example",
		"/%2F/evil.example", "", "queues", "/\x00/x", " /x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither the path nor /", next, got)
		}
		b := browserPath(got)
		if !strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//") {
			t.Fatalf("safeNext(%q) = %q, which a browser reads as %q: another host", next, got, b)
		}
		u, err := url.Parse(b)
		if err == nil && (u.Scheme != "" || u.Host != "") {
			t.Fatalf("safeNext(%q) = %q: scheme %q host %q", next, got, u.Scheme, u.Host)
		}
	})
}
