package mailaddr

import "strings"

// Fold is s with its ASCII capital letters lowered and every other byte
// unchanged: the comparison key of an address, a domain or a pattern. s
// is returned as it is (no copy) when it has no ASCII capital.
func Fold(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// EqualFold reports whether a and b are equal ignoring ASCII case only:
// Fold(a) == Fold(b), without a copy.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// IsPostmaster reports whether local (a local part, or a bare RCPT path)
// is "postmaster" in any ASCII case, and only that (RFC 5321 §4.5.1):
// strings.EqualFold would also take "poſtmaster" (U+017F), a mailbox the
// directory and the Maildir do not take for it. It is the one test of
// the postmaster name: RCPT, the recipient check, delivery and the CLI's
// explanations all ask it.
func IsPostmaster(local string) bool { return EqualFold(local, "postmaster") }

// IsDomain reports whether s is a syntactically valid DNS name (letters,
// digits, hyphens, underscores; labels of 1–63 octets; at most 253 octets; a trailing
// dot allowed).
func IsDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
