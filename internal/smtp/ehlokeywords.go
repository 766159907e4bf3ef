package smtp

import "strings"

// NormalizeEHLO is the one reader of a next hop's EHLO or LHLO reply
// (textproto's text, lines joined by "\n"): the first line (the server's
// name and greeting) as it is, then each extension line as its keyword in
// upper case and its parameters separated by single spaces, leading and
// trailing whitespace dropped; an empty line is left out. Extension
// keywords are case-insensitive (RFC 5321 §2.4), and go-smtp keys them as
// written, so every reply go-smtp reads is given to it in this form
// (prelude): "250-8bitmime", "250-size 1000 " and "250-auth  plain" are
// 8BITMIME, SIZE 1000 and AUTH plain to every check, STARTTLS's among
// them (rt16d F2).
func NormalizeEHLO(msg string) string {
	lines := strings.Split(msg, "\n")
	out := lines[:1:1]
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		f[0] = strings.ToUpper(f[0])
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n")
}

// ehloOffers reports whether the EHLO reply norm, as NormalizeEHLO gave
// it, offers keyword kw (upper case).
func ehloOffers(norm, kw string) bool {
	for _, l := range strings.Split(norm, "\n")[1:] {
		if k, _, _ := strings.Cut(l, " "); k == kw {
			return true
		}
	}
	return false
}

// ehloWire is the EHLO/LHLO reply norm, as NormalizeEHLO gave it, in
// wire form for go-smtp.
func ehloWire(norm string) []byte { return rawReply(250, norm) }
