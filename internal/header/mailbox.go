package header

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/unicode/norm"
)

// Mailbox is one mailbox of a From: field as written: its local part
// (quotes kept) and its domain (a dot-atom, possibly with a final dot; a
// domain literal in square brackets; or a quoted string, which no check
// takes for a domain name).
type Mailbox struct {
	Local, Domain string
}

// MailboxError says why a value is not a mailbox-list: Why in words, At
// the unfolded text from where it went wrong.
type MailboxError struct {
	Why, At string
}

func (e *MailboxError) Error() string { return e.Why }

// Mailboxes reads v, the value of a From: field (after the colon, with
// its folding and final line end), as an RFC 5322 mailbox-list (§3.4):
// one or more mailboxes separated by commas, each an addr-spec or a
// display name (a phrase: atoms, quoted strings and, as obsolete syntax
// allows, dots) followed by an addr-spec in angle brackets, with
// comments and white space between the parts. It is the one reading of
// an author the checks that key on it share (DMARC's author domain, the
// DKIM signing key), and it is strict where a lenient reader and a mail
// reader could disagree about who the author is: an '@' outside quotes
// or angle brackets in a display name, two addresses without a comma,
// text after an address, a group ("team: a@x;"), a source route, an
// unterminated quoted string, comment or angle bracket, a control
// character (RFC 1468 ISO-2022-JP, whole JIS characters, in a quoted
// string or comment is text), a line break that is not folding (CRLF or LF followed by
// white space), a display name or comment that shows an address once its
// quotes are removed and its RFC 2047 encoded words decoded ("ceo@x",
// "=?utf-8?q?ceo=40x?=", "(ceo@x)"; decoded as leniently as a reader
// does — base64 without padding, a stray '=' in a Q word, and a "=?"
// that opens no well-formed word read to the next "?=" as lenient readers
// read it (white space, '?' and folds in its text; base64 keeping only its
// alphabet up to the first '=') — each word in
// its charset, the white space between two words dropped, RFC 2047 §6.2,
// and compatibility forms folded, "ceo＠x"; white space around '@' and
// the domain's dots set aside, "ceo @ x . test", but for a word's final
// dot before a word with an apostrophe, "Bob @ St. Mary's", or a chain
// of abbreviations' dots before one, "Mt. St. Helen's"; a shown
// domain ended where a domain name cannot go on, "ceo@x.test's", and cut
// back to its last label that starts with a letter and is not one
// character, "ceo@x.test.1"; one label a domain only where it is an
// ICANN top-level domain, "n@ai" but not "Team@Acme", and several only
// where the top one is an ICANN or special-use one, "ceo@x.test" but
// not "Sales @ St. Louis" (namesDomain; MailboxesOwn: or an own
// domain's) — a top label read without the non-letters it ends with too,
// "ceo@x.test1", one naming nothing as junk after the domain before it
// while that keeps two labels, "ceo@x.test.zz", and a dotted shown
// domain with any character outside ASCII always one, "ceo@x.tеst"
// (showsDomain); laid out in its
// visual order where it holds a right-to-left character, "RLM org RLM .
// RLM example RLM @ RLM ceo"; raw ISO-2022-JP decoded; quoted
// strings read as words of their own too, '"ceo@x.test"y.z'; bytes that are not UTF-8
// read in each legacy charset too; a display name may show the
// author's own domain or organisational domain, in quotes or brackets; a word in a charset not
// decoded here may show any address), an encoded word in an addr-spec
// (RFC 2047 §5), or a quoted local part holding an address is an error (*MailboxError), never a guess. Allowed as
// RFC 5322 §4 and RFC 6532 allow them: raw UTF-8, raw ISO-2022-JP in a
// quoted string or comment, encoded words (atoms)
// that decode to a name,
// empty list elements ("a@x.test, "), dots in a display name, a quoted
// local part, and a final dot on a domain. Total: any string gives a
// list or an error.
func Mailboxes(v string) ([]Mailbox, error) { return MailboxesOwn(v, nil) }

// MailboxesOwn is Mailboxes for a server whose organisation's own
// domains own reports (an ASCII domain in lower case, no final dot;
// nil: none): a display name or comment that shows an address whose
// domain is one of them, or a subdomain of one, shows an address
// whatever its top-level label — "ceo @ corp.lan" where corp.lan is the
// organisation's — where a shown domain whose top label is no ICANN
// top-level domain ("Sales @ St. Louis") otherwise names none.
func MailboxesOwn(v string, own func(domain string) bool) ([]Mailbox, error) {
	s, err := unfold(v)
	if err != nil {
		return nil, err
	}
	p := &mboxParser{s: s, own: own}
	var out []Mailbox
	for {
		if err := p.cfws(); err != nil {
			return nil, err
		}
		if p.end() {
			break
		}
		if p.s[p.i] == ',' { // obs-mbox-list: an empty element
			p.i++
			continue
		}
		m, err := p.mailbox()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		if err := p.cfws(); err != nil {
			return nil, err
		}
		if p.end() {
			break
		}
		if p.s[p.i] != ',' {
			return nil, p.fail("text after the address " + m.Local + "@" + m.Domain)
		}
		p.i++
	}
	if len(out) == 0 {
		return nil, &MailboxError{Why: "no address", At: s}
	}
	return out, nil
}

// unfold removes the final line end and the line breaks of folding
// (RFC 5322 §2.2.3: CRLF, or leniently LF, followed by white space).
func unfold(v string) (string, error) {
	v = strings.TrimSuffix(v, "\n")
	v = strings.TrimSuffix(v, "\r")
	if !strings.ContainsAny(v, "\r\n") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\r' && i+2 < len(v) && v[i+1] == '\n' && isWSP(v[i+2]):
			i++
		case c == '\n' && i+1 < len(v) && isWSP(v[i+1]):
		case c == '\r' || c == '\n':
			return "", &MailboxError{Why: "a line break that is not folding", At: v[i:]}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

type mboxParser struct {
	s   string
	i   int
	own func(domain string) bool // the organisation's domains (MailboxesOwn)
}

func (p *mboxParser) end() bool { return p.i >= len(p.s) }

func (p *mboxParser) fail(why string) error {
	return &MailboxError{Why: why, At: p.s[min(p.i, len(p.s)):]}
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// isAtext: RFC 5322 §3.2.3 atext, and any byte of a UTF-8 sequence
// (RFC 6532 §3.2).
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// cfws skips white space and comments (nested, with quoted pairs).
func (p *mboxParser) cfws() error {
	depth, start := 0, p.i
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case isWSP(c):
		case c == '(':
			if depth == 0 {
				start = p.i
			}
			depth++
		case depth > 0 && c == ')':
			if depth--; depth == 0 && mayShow(p.s[start:p.i+1]) {
				c := shown(p.s[start : p.i+1])
				if c.bidi != "" {
					return &MailboxError{Why: "a comment with a bidi override or isolate, " + c.bidi + ", shown reordered", At: p.s[start : p.i+1]}
				}
				if c.unknown != "" {
					return &MailboxError{Why: "a comment with an encoded word in a charset not decoded here, which may show an address", At: c.unknown}
				}
				if a := c.addresses(p.own); len(a) > 0 {
					return &MailboxError{Why: "a comment that shows an address", At: a[0]}
				}
			}
		case depth > 0 && c == '\\':
			if p.i++; p.i >= len(p.s) {
				return &MailboxError{Why: "an unterminated comment", At: p.s[start:]}
			}
		case depth > 0 && c == esc: // raw ISO-2022-JP: text (obs-ctext)
			n, why := iso2022JPRun(p.s[p.i:], "()\\")
			if n == 0 {
				return p.fail(why)
			}
			p.i += n - 1
		case depth > 0 && c < ' ' || c == 0x7f:
			return p.fail("a control character")
		case depth > 0:
		default:
			return nil
		}
	}
	if depth > 0 {
		return &MailboxError{Why: "an unterminated comment", At: p.s[start:]}
	}
	return nil
}

// wordKinds sums up the tokens of a phrase or local part (words: atoms
// and quoted strings; dots), as read, without a list of them.
type wordKinds struct {
	n         int  // tokens read
	dotFirst  bool // the first is a dot
	alternate bool // word, dot, word, …: each token's kind so far alternates, from a word
}

// add counts one token, a word or a dot.
func (k *wordKinds) add(word bool) {
	if k.n == 0 {
		k.dotFirst, k.alternate = !word, word
	} else if word != (k.n%2 == 0) {
		k.alternate = false
	}
	k.n++
}

// isDotWords: word *("." word), RFC 5322 §4.4 obs-local-part.
func (k wordKinds) isDotWords() bool { return k.n%2 == 1 && k.alternate }

// words reads atoms, quoted strings and dots (with CFWS between) up to
// the first other character; it returns their kinds and the text from
// the first to the last, as written.
func (p *mboxParser) words() (wordKinds, string, error) {
	var kinds wordKinds
	start, last := -1, -1
	for {
		if err := p.cfws(); err != nil {
			return wordKinds{}, "", err
		}
		if p.end() {
			break
		}
		c, at := p.s[p.i], p.i
		switch {
		case c == '"':
			if err := p.quoted(); err != nil {
				return wordKinds{}, "", err
			}
			kinds.add(true)
		case c == '.':
			p.i++
			kinds.add(false)
		case isAtext(c):
			for p.i < len(p.s) && isAtext(p.s[p.i]) {
				p.i++
			}
			kinds.add(true)
		default:
			if start < 0 {
				return wordKinds{}, "", nil
			}
			return kinds, p.s[start:last], nil
		}
		if start < 0 {
			start = at
		}
		last = p.i
	}
	if start < 0 {
		return wordKinds{}, "", nil
	}
	return kinds, p.s[start:last], nil
}

// quoted reads a quoted string (RFC 5322 §3.2.4) from its opening quote.
func (p *mboxParser) quoted() error {
	start := p.i
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			return nil
		case c == '\\':
			p.i++
		case c == esc: // raw ISO-2022-JP: text (obs-qtext)
			n, why := iso2022JPRun(p.s[p.i:], "\"\\")
			if n == 0 {
				return p.fail(why)
			}
			p.i += n - 1
		case c < ' ' && c != '\t' || c == 0x7f:
			return p.fail("a control character")
		}
	}
	return &MailboxError{Why: "an unterminated quoted string", At: p.s[start:]}
}

// mailbox reads one name-addr or addr-spec.
func (p *mboxParser) mailbox() (Mailbox, error) {
	kinds, text, err := p.words()
	if err != nil {
		return Mailbox{}, err
	}
	if p.end() {
		return Mailbox{}, p.fail("address " + text + " without a domain")
	}
	switch p.s[p.i] {
	case '<':
		if kinds.dotFirst {
			return Mailbox{}, p.fail("a display name starting with a dot")
		}
		var name shownText
		if mayShow(text) {
			name = shown(text)
		}
		p.i++
		if err := p.cfws(); err != nil {
			return Mailbox{}, err
		}
		if !p.end() && p.s[p.i] == '@' {
			return Mailbox{}, p.fail("a source route")
		}
		lk, local, err := p.words()
		if err != nil {
			return Mailbox{}, err
		}
		m, err := p.addrSpec(lk, local)
		if err != nil {
			return Mailbox{}, err
		}
		// A display name that is the address itself ("a@x.test"
		// <a@x.test>, "'a@x.test'" <a@x.test>, as many clients write
		// one) shows the author's own domain, and one of its
		// organisational domain ("support@x.test" <a@mail.x.test>) the
		// author's own as DMARC's relaxed alignment reads it: only
		// another organisational domain shown is a second author. A word in a charset not decoded
		// here may show one.
		if name.bidi != "" {
			return Mailbox{}, &MailboxError{Why: "a display name with a bidi override or isolate, " + name.bidi + ", shown reordered", At: text}
		}
		if name.unknown != "" {
			return Mailbox{}, &MailboxError{Why: "a display name with an encoded word in a charset not decoded here, which may show an address", At: name.unknown}
		}
		for _, a := range name.addresses(p.own) {
			if !sameOrgDomain(a[strings.LastIndexByte(a, '@')+1:], m.Domain) {
				return Mailbox{}, &MailboxError{Why: "a display name that shows an address of another domain", At: a}
			}
		}
		if err := p.cfws(); err != nil {
			return Mailbox{}, err
		}
		if p.end() || p.s[p.i] != '>' {
			return Mailbox{}, p.fail("no '>' after the address " + m.Local + "@" + m.Domain)
		}
		p.i++
		return m, nil
	case '@':
		return p.addrSpec(kinds, text)
	case ':':
		return Mailbox{}, p.fail("a group, a name and a colon, not a mailbox")
	case ',':
		return Mailbox{}, p.fail("address " + text + " without a domain")
	}
	return Mailbox{}, p.fail("an unexpected character")
}

// addrSpec reads "@" domain after a local part already read.
func (p *mboxParser) addrSpec(kinds wordKinds, local string) (Mailbox, error) {
	if p.end() || p.s[p.i] != '@' {
		if kinds.n == 0 {
			return Mailbox{}, p.fail("no address")
		}
		return Mailbox{}, p.fail("address " + local + " without a domain")
	}
	if kinds.n == 0 {
		return Mailbox{}, p.fail("an '@' without a local part")
	}
	if !kinds.isDotWords() {
		// "ceo@example.org <a@x>" read from the start, or "John Doe@x":
		// a phrase, then '@', outside angle brackets.
		return Mailbox{}, p.fail("an '@' outside quotes or angle brackets")
	}
	p.i++ // '@'
	if err := p.cfws(); err != nil {
		return Mailbox{}, err
	}
	if p.end() {
		return Mailbox{}, p.fail("address " + local + "@ without a domain")
	}
	start := p.i
	switch c := p.s[p.i]; {
	case c == '[':
		for p.i++; p.i < len(p.s) && p.s[p.i] != ']'; p.i++ {
			if c := p.s[p.i]; c == '[' || c == '\\' || c < ' ' && c != '\t' || c == 0x7f {
				return Mailbox{}, p.fail("an invalid domain literal")
			}
		}
		if p.end() {
			return Mailbox{}, &MailboxError{Why: "an unterminated domain literal", At: p.s[start:]}
		}
		p.i++
	case c == '"':
		if err := p.quoted(); err != nil {
			return Mailbox{}, err
		}
	case isAtext(c):
		for p.i < len(p.s) && (isAtext(p.s[p.i]) || p.s[p.i] == '.') {
			p.i++
		}
	default:
		return Mailbox{}, p.fail("address " + local + "@ without a domain")
	}
	m := Mailbox{Local: local, Domain: p.s[start:p.i]}
	if strings.Contains(local, "\"") && mayShow(local) {
		// '"ceo@bank.test"@evil.test': a quoted local part holding an
		// address may be read as that address (as at RCPT and MAIL).
		t := shown(local)
		for _, v := range append(t.views, t.spaced...) {
			if strings.Contains(v, "@") {
				return Mailbox{}, &MailboxError{Why: "a quoted local part that shows an address", At: local + "@" + m.Domain}
			}
		}
	}
	if encodedWord.MatchString(m.Local) || encodedWord.MatchString(m.Domain) {
		// RFC 2047 §5: never in an addr-spec; a reader that decodes it
		// anyway shows another address.
		return Mailbox{}, &MailboxError{Why: "an encoded word in an address", At: local + "@" + m.Domain}
	}
	return m, nil
}

// encodedWord: an RFC 2047 encoded word, =?charset?encoding?text?=.
var encodedWord = regexp.MustCompile(`=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=`)

// shownText is a display name or comment as readers show it (shown):
// one text, or more where a word's byte order is read either way or raw
// bytes that are not UTF-8 are read in the legacy charsets a reader
// might pick; spaced holds the same texts with the white space around
// '@' and dots set aside (RFC 5322 §3.4.1 allows CFWS there, and a
// reader takes "ceo @ bank . test" for ceo@bank.test).
type shownText struct {
	views   []string
	spaced  []string
	unknown string // the first encoded word in a charset not decoded here
	bidi    string // the first bidi embedding, override or isolate, "U+202E"
}

// bidiControl: an explicit bidi embedding, override or isolate (U+202A–
// U+202E, U+2066–U+2069). A reader shows the text they hold in another
// order than it is written ("\u202egro.elpmaxe @ oec" as "ceo @
// example.org"); no name needs one — Hebrew and Arabic letters carry
// their direction. The marks U+200E, U+200F, U+061C are no such control
// (names need them): they are invisible marks around '@' and dots
// (closeUp), and a name with a right-to-left one is read in its visual
// orders too (visualOrders), where an address they bring together counts.
func bidiControl(d string) string {
	for _, r := range d {
		if r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return fmt.Sprintf("U+%04X", r)
		}
	}
	return ""
}

// mayShow says whether a display name or comment, as written, could
// show an address at all: an '@', an encoded word, or a character that
// is not ASCII (a compatibility form of '@', U+FF20, U+FE6B) or that
// starts ISO-2022-JP (JIS X 0208 "!w" is U+FF20).
func mayShow(s string) bool {
	if strings.Contains(s, "@") || strings.Contains(s, "=?") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == esc {
			return true
		}
	}
	return false
}

// shown is a display name or comment as a reader shows it: its encoded
// words decoded in their charsets (decodeWords), bytes that are not
// UTF-8 also read in each legacy charset (legacyCharsets: Shift_JIS
// 0x81 0x97 is U+FF20), compatibility forms folded (NFKC: U+FF20 and
// U+FE6B are '@', fullwidth letters and dots ASCII ones, U+3000 a
// space), its quotes and quoted-pair backslashes removed.
//
// A quoted string is a word of its own, and a comment in a name is not
// shown: a reader that shows a phrase's words with a space between them
// shows '"ceo@bank.test"x.evil.test' as "ceo@bank.test x.evil.test"
// where the quotes removed give "ceo@bank.testx.evil.test" (an address
// of evil.test's organisational domain), and '"ceo @ bank"(x)".test"' as
// "ceo @ bank .test". Both are read: the text as written, and again with
// each quoted string's quotes and each comment turned into white space
// (wordsApart).
func shown(s string) shownText {
	var out shownText
	out.read(s)
	if w, ok := wordsApart(s); ok {
		out.read(w)
	}
	return out
}

// wordsApart is s with the quotes that open and close its quoted
// strings (not a quoted pair's, not one in a comment) and its comments,
// byte for byte, turned into spaces; ok is false where that parts no
// two characters the text as written joins (only white space, or the
// text's start or end, on a side of each: '"alice@example.org"').
func wordsApart(s string) (string, bool) {
	if !strings.ContainsAny(s, "\"(") {
		return "", false
	}
	b := []byte(s)
	quoted, depth := false, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case (quoted || depth > 0) && c == esc:
			// A JIS X 0208 run's bytes are its characters', a quote or
			// parenthesis among them (iso2022JPRun, as the parser
			// reads it); turned into spaces in a comment.
			delims := "\"\\"
			if depth > 0 {
				delims = "()\\"
			}
			n, _ := iso2022JPRun(s[i:], delims)
			if depth > 0 {
				for k := i; k < i+max(n, 1); k++ {
					b[k] = ' '
				}
			}
			i += max(n, 1) - 1
		case quoted && c == '\\':
			i++
		case quoted:
			if c == '"' {
				b[i], quoted = ' ', false
			}
		case c == '"' && depth == 0:
			b[i], quoted = ' ', true
		case c == '(':
			b[i], depth = ' ', depth+1
		case depth > 0:
			b[i] = ' '
			if c == '\\' && i+1 < len(b) {
				i++
				b[i] = ' '
			} else if c == ')' {
				depth--
			}
		}
	}
	// A run of white space holding a byte turned into one, between two
	// characters that are not white space, parts what was joined.
	for i := 0; i < len(b); {
		if !isWSP(b[i]) {
			i++
			continue
		}
		j, turned := i, false
		for ; j < len(b) && isWSP(b[j]); j++ {
			turned = turned || b[j] != s[j]
		}
		if turned && i > 0 && j < len(b) {
			return string(b), true
		}
		i = j
	}
	return "", false
}

// read adds the views of s, a display name or comment as written, to t.
func (t *shownText) read(s string) {
	d, twoWays, unknown := decodeWords(s, false)
	if t.unknown == "" {
		t.unknown = unknown
	}
	t.add(d)
	if twoWays {
		d2, _, _ := decodeWords(s, true)
		t.add(d2)
	}
	// rt20g-F1: where "=?" opens what the strict reading does not take
	// for an encoded word (or does not decode: it is left as written),
	// read it as lenient readers do too. Where every "=?" was a word
	// decoded, the lenient reading is the same.
	if !strings.Contains(d, "=?") {
		return
	}
	if l, two, unk := decodeLenient(s, false); l != d {
		if t.unknown == "" {
			t.unknown = unk
		}
		t.add(l)
		if two {
			l, _, _ = decodeLenient(s, true)
			t.add(l)
		}
	}
}

// decodeLenient decodes s as a lenient reader does: every "=?" that
// opens charset '?' encoding '?' is an encoded word up to the next "?="
// (its text may hold white space and '?', as when it was folded inside);
// base64 text keeps only the characters of its alphabet up to the first
// '=' (padding and what follows it dropped), Q text decodes =XX and '_'
// and keeps the rest. White space between two such words is dropped.
// twoWays, alt and unknown as decodeWords'.
func decodeLenient(s string, alt bool) (out string, twoWays bool, unknown string) {
	var b strings.Builder
	b.Grow(len(s))
	last, prevWord := 0, false
	for i := 0; i+1 < len(s); {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			break
		}
		j += i
		// A charset name is short (RFC 2047 §2: a word is at most 75
		// characters): looked for in a bounded window, so that the
		// reading stays linear.
		c := strings.IndexByte(s[j+2:min(len(s), j+2+76)], '?')
		if c <= 0 {
			i = j + 2
			continue
		}
		charset, rest := s[j+2:j+2+c], s[j+2+c+1:]
		if strings.ContainsAny(charset, " \t") || len(rest) < 2 || rest[1] != '?' ||
			!strings.ContainsRune("bBqQ", rune(rest[0])) {
			i = j + 2
			continue
		}
		textStart := j + 2 + len(charset) + 3
		k := strings.Index(s[textStart:], "?=")
		if k < 0 {
			break // no word ends after this: none can start later either
		}
		text := s[textStart : textStart+k]
		if gap := s[last:j]; !prevWord || strings.Trim(gap, " \t") != "" {
			b.WriteString(gap)
		}
		var raw []byte
		if rest[0] == 'b' || rest[0] == 'B' {
			raw = lenientBase64(text)
		} else {
			raw = decodeQ(text)
		}
		d, known, two := decodeCharset(charset, raw, alt)
		if !known && unknown == "" {
			unknown = s[j : textStart+k+2]
		}
		twoWays = twoWays || two
		b.WriteString(d)
		last = textStart + k + 2
		i, prevWord = last, true
	}
	b.WriteString(s[last:])
	return b.String(), twoWays, unknown
}

// lenientBase64 decodes base64 text keeping only the characters of its
// alphabet up to the first '=', a final lone character dropped.
func lenientBase64(text string) []byte {
	keep := make([]byte, 0, len(text))
	for i := 0; i < len(text) && text[i] != '='; i++ {
		if c := text[i]; c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			keep = append(keep, c)
		}
	}
	if len(keep)%4 == 1 {
		keep = keep[:len(keep)-1]
	}
	raw, err := base64.RawStdEncoding.DecodeString(string(keep))
	if err != nil {
		return nil
	}
	return raw
}

// decodeQ decodes Q text (RFC 2047 §4.2): '_' a space, =XX a byte, a
// stray '=' and any other byte kept.
func decodeQ(text string) []byte {
	raw := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '_':
			raw = append(raw, ' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			raw = append(raw, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		default:
			raw = append(raw, c)
		}
	}
	return raw
}

// add adds a decoded text's views: as it is, in each legacy charset
// where it is not UTF-8, and each with its white space around '@' and
// dots set aside. A text with an ESC is shown as raw ISO-2022-JP
// decodes (decodeISO2022JP), and as its bytes are, as a reader that
// does not decode it shows them — there only an address with a dot in
// its domain and a letter or digit in its local part counts, as in the
// spaced views: a JIS character's bytes hold an '@' now and then
// ("0@Ab" is 粟曹), a name's JIS text no address.
func (t *shownText) add(d string) {
	if strings.IndexByte(d, esc) >= 0 {
		t.view(decodeISO2022JP(d))
		f := fold(d)
		t.spaced = append(t.spaced, f)
		if c, ok := closeUp(f); ok {
			t.spaced = append(t.spaced, c)
		}
	} else {
		t.view(d)
	}
	if utf8.ValidString(d) {
		return
	}
	for _, e := range legacyCharsets {
		if l, err := e.NewDecoder().String(d); err == nil {
			t.view(l)
		}
	}
}

func (t *shownText) view(d string) {
	if t.bidi == "" {
		t.bidi = bidiControl(d)
	}
	t.viewAs(d)
	// A name with a right-to-left character is shown in another order
	// than it is written (bidi.go): read as laid out too.
	for _, v := range visualOrders(d) {
		t.viewAs(v)
	}
}

// viewAs adds one text as shown: folded, and with its white space
// around '@' and dots set aside.
func (t *shownText) viewAs(d string) {
	f := fold(d)
	t.views = append(t.views, f)
	if c, ok := closeUp(f); ok {
		t.spaced = append(t.spaced, c)
	}
}

// legacyCharsets: the charsets a reader may read a header's raw bytes
// in when they are not UTF-8 (RFC 6532 allows only UTF-8).
var legacyCharsets = func() []encoding.Encoding {
	var out []encoding.Encoding
	for _, n := range []string{"shift_jis", "euc-jp", "gb18030", "big5", "euc-kr", "windows-1252"} {
		e, err := htmlindex.Get(n)
		if err != nil {
			panic(err)
		}
		out = append(out, e)
	}
	return out
}()

// closeUp removes the white space (every Unicode space, and invisible
// marks: format characters and the combining marks a space carries,
// isInvisibleMark) next to an '@' or a dot — but after a word's final
// dot before a word with an apostrophe (proseDot) —; ok is false where
// there is none to remove.
func closeUp(f string) (string, bool) {
	gap := func(r rune) bool { return unicode.IsSpace(r) || isInvisibleMark(r) }
	if !strings.ContainsAny(f, "@.") || strings.IndexFunc(f, gap) < 0 {
		return "", false
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(f); {
		r, n := utf8.DecodeRuneInString(f[i:])
		if !gap(r) {
			b.WriteRune(r)
			i += n
			continue
		}
		j := i
		for j < len(f) {
			r, n := utf8.DecodeRuneInString(f[j:])
			if !gap(r) {
				break
			}
			j += n
		}
		prev := b.String()
		if (prev != "" && strings.ContainsRune("@.", rune(prev[len(prev)-1])) || j < len(f) && strings.ContainsRune("@.", rune(f[j]))) &&
			!proseDot(f, i, j) {
			changed = true
		} else {
			b.WriteString(f[i:j])
		}
		i = j
	}
	return b.String(), changed
}

// proseDot says whether the white space f[i:j] follows a dot that ends
// a word and comes before a word with an apostrophe in it — "St. Mary's",
// "Mr. Smith’s", "M.D. @ St. Mary's": a reader reads an abbreviation and
// a name there, not a domain's dot with white space around it, and no
// domain label holds an apostrophe. White space before the dot too
// ("bank . test's") is a domain's dot set apart. A chain of such dots
// is prose too where each ends an abbreviation — a capital letter and at
// most two small ones, "Mt. St. Helen's", "Ft. Mt. Jo's" — and the last
// comes before a word with an apostrophe: "bank. test. Jo's" and "Bank.
// Test. Jo's" are a domain's labels (bidi23 4). A chain is followed for
// at most maxProseChain abbreviations, so that a long one costs no more
// than a short one per dot.
func proseDot(f string, i, j int) bool { return proseChain(f, i, j, maxProseChain) }

// maxProseChain: abbreviations a prose chain may hold ("Mt. St." two).
const maxProseChain = 4

func proseChain(f string, i, j, more int) bool {
	if i < 2 || f[i-1] != '.' || j >= len(f) || f[j] == '@' || f[j] == '.' {
		return false
	}
	if r, _ := utf8.DecodeLastRuneInString(f[:i-1]); unicode.IsSpace(r) || isInvisibleMark(r) {
		return false
	}
	letter := false
	for k, r := range f[j:] {
		switch {
		case unicode.IsSpace(r) || isInvisibleMark(r):
			return false
		case isApostrophe(r) && letter:
			return true
		case r == '.' && more > 0 && abbreviation(f[j:j+k]) && abbreviation(wordBefore(f, i-1)):
			// "Mt. St. …": prose if the next dot is.
			e := j + k + 1
			for e < len(f) {
				r, n := utf8.DecodeRuneInString(f[e:])
				if !unicode.IsSpace(r) && !isInvisibleMark(r) {
					break
				}
				e += n
			}
			return e > j+k+1 && proseChain(f, j+k+1, e, more-1)
		}
		letter = unicode.IsLetter(r) && !isApostrophe(r)
	}
	return false
}

// wordBefore is the run of letters of f that ends at end.
func wordBefore(f string, end int) string {
	k := end
	for k > 0 {
		r, n := utf8.DecodeLastRuneInString(f[:k])
		if !unicode.IsLetter(r) {
			break
		}
		k -= n
	}
	return f[k:end]
}

// abbreviation: a capital letter and at most two small ones ("Mt", "St",
// "Dr", "Mrs", "J"), as a name's abbreviations are written.
func abbreviation(w string) bool {
	for k, r := range w {
		if k == 0 && !unicode.IsUpper(r) || k > 0 && !unicode.IsLower(r) {
			return false
		}
	}
	return w != "" && utf8.RuneCountInString(w) <= 3
}

// isApostrophe: an apostrophe as a name writes one (U+0027, and U+2019,
// U+02BC, U+FF07, which a reader shows alike). No domain label holds one.
func isApostrophe(r rune) bool {
	return r == '\'' || r == '\u2019' || r == '\u02bc' || r == '\uff07'
}

// domainEnd is where a shown domain, text that follows an '@', ends: at
// the first character a domain name cannot hold, as a reader takes
// "ceo@bank.test's", "ceo@bank.test/x" for ceo@bank.test — anything
// ASCII but a letter, digit, hyphen, underscore or dot; an apostrophe
// (isApostrophe: U+02BC is a letter, U+2019 one a lenient IDNA mapping
// takes); any other character not a letter, mark, digit or invisible
// format character (Unicode L, M, N, Cf: an IDN's) but for the
// punctuation IDNA 2008 lets a label hold in context (U+00B7, U+0375,
// U+05F3, U+05F4, U+30FB). A byte that is not UTF-8 does not end it.
func domainEnd(d string) int {
	for i := 0; i < len(d); {
		c := d[i]
		if c < 0x80 {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(d[i:])
		if isApostrophe(r) || r != utf8.RuneError && !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Cf) &&
			!strings.ContainsRune("\u00b7\u0375\u05f3\u05f4\u30fb", r) {
			return i
		}
		i += n
	}
	return len(d)
}

// fold is a decoded text as it shows: NFKC where it is not ASCII, the
// ideographic full stops dots (UTS 46 maps U+3002, U+FF0E and U+FF61 to
// '.' in a domain name: "bank。test" is bank.test; NFKC makes U+FF0E '.'
// and U+FF61 U+3002), every character Unicode's confusables data maps
// to FULL STOP a dot and every one it maps to '@' an '@'
// (confusabledots.go: "bankꓸtest", U+A4F8, shows as bank.test; NFKC
// already makes U+2024 a dot), then without quotes and backslashes.
func fold(d string) string {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			d = lookAlikes.Replace(norm.NFKC.String(d))
			break
		}
	}
	return unquote.Replace(d)
}

// confusables.txt is not in the repository: download the version the
// table cites (confusablesVersion) into this directory first,
// https://www.unicode.org/Public/security/17.0.0/confusables.txt, then
// run go generate (gendots.go).
//
//go:generate go run gendots.go -in confusables.txt

// lookAlikes folds the ideographic full stop and the confusables of '.'
// and '@' (confusabledots.go) to the ASCII characters (built once).
var lookAlikes = func() *strings.Replacer {
	pairs := []string{"\u3002", "."}
	for _, r := range confusableDots {
		pairs = append(pairs, string(r), ".")
	}
	for _, r := range confusableAts {
		pairs = append(pairs, string(r), "@")
	}
	return strings.NewReplacer(pairs...)
}()

// addresses lists the addresses the text shows (x@y: an '@' with an
// address byte on each side, y up to the first byte no address has),
// without the quotes, apostrophes and brackets a name puts around one
// ("'a@x.test'", "<a@x.test>", "[a@x.test]", "“a@x.test”", "「a@x.test」":
// every opening, closing, initial and final punctuation mark, Unicode
// Ps, Pe, Pi, Pf) or a sentence's final punctuation: as a reader takes
// them in. In the spaced views (white space around '@' and dots set
// aside) only an address whose domain has a dot and whose local part a
// letter or digit counts: "Meet @ noon" and "Doe | @jane.doe" show none.
// In every view the domain ends where a domain name cannot go on
// (domainEnd: "bank.test's" shows bank.test) and is cut back to its
// last label that starts with a letter (shownDomain): "bank.test.1"
// shows bank.test, and "Price @ 9.99", "Webinar@3.30", "Sales @ v2.0",
// "Sam @ N.Y.C." show none.
func (t shownText) addresses(own func(string) bool) []string {
	var out []string
	for n, views := range [][]string{t.views, t.spaced} {
		for _, d := range views {
			for i := nextShownAddress(d, 1); i > 0; i = nextShownAddress(d, i+1) {
				k := i
				for k > 0 && isAddrByte(d[k-1]) {
					k--
				}
				j := i + 1
				for j < len(d) && isAddrByte(d[j]) {
					j++
				}
				local := strings.TrimLeftFunc(d[k:i], isAroundLeft)
				domain := strings.TrimLeftFunc(d[i+1:j], isAroundLeft)
				domain = domain[:domainEnd(domain)]
				if local == "" {
					local = d[k:i]
				}
				domain, ok := shownDomain(domain)
				dotted := strings.Contains(strings.Trim(domain, "."), ".")
				if !ok || n == 1 && (!dotted || !hasAlnum(local)) || !showsDomain(domain, dotted, own) {
					continue
				}
				out = append(out, local+"@"+domain)
			}
		}
	}
	return out
}

// shownDomain is the domain name a shown domain names: cut back to its
// last label that starts with a letter once invisible marks (Unicode Mn,
// Me, Cf) before it are set aside and has a second character (RFC 3696
// §2: a top-level domain is not all digits; none starts with one, and
// none is one character), as a reader takes "bank.test.1", "bank.test.-",
// "bank.test.x" or "bank.test" then junk for bank.test, and
// "bank.\u034ftest" for an address too; invisible marks after it are
// not part of it. ok is false where no label
// qualifies, or where one was cut and one label is left: "3.30", "9.99",
// "3.30pm", "v2.0", "v2.0.1" and "N.Y.C" name none. A bracketed literal
// names none either.
func shownDomain(domain string) (string, bool) {
	// Invisible marks after it show nothing: "bank.test\u200f" (a mark
	// a right-to-left name ends a word with) shows bank.test.
	d := strings.TrimRightFunc(domain, func(r rune) bool { return r == '.' || isInvisibleMark(r) })
	for cut := false; d != ""; cut = true {
		i := strings.LastIndexByte(d, '.')
		label := strings.TrimLeftFunc(d[i+1:], isInvisibleMark)
		r, n := utf8.DecodeRuneInString(label)
		switch {
		case unicode.IsLetter(r) && strings.IndexFunc(label[n:], func(r rune) bool { return !isInvisibleMark(r) }) >= 0:
			return d, !cut || i >= 0
		case i < 0:
			return "", false
		}
		d = strings.TrimRight(d[:i], ".")
	}
	return "", false
}

// isInvisibleMark: a character that shows nothing of its own before a
// label's first letter (a combining mark, U+034F, a variation selector,
// U+FE0F; a format character, U+200B).
func isInvisibleMark(r rune) bool { return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) }

// isTLD says whether a one-label domain is a top-level domain of the
// ICANN section of the public suffix list, one that can take mail with
// no dot ("n@ai", "ceo@bank", "sales@shop"): another organisation's
// address a name may show. Any other one label ("Team@Acme",
// "jane.doe@home") names no domain on the internet — DMARC protects
// none, no sender can be aligned with one — and is a name's word.
func isTLD(label string) bool {
	if label == "" {
		return false
	}
	// Invisible marks show nothing: "n@\u034fai" shows n@ai.
	label = strings.Map(func(r rune) rune {
		if isInvisibleMark(r) {
			return -1
		}
		return r
	}, label)
	a, err := idna.Lookup.ToASCII(strings.Trim(label, "."))
	if err != nil || a == "" || strings.Contains(a, ".") {
		return false
	}
	_, icann := publicsuffix.PublicSuffix(strings.ToLower(a))
	return icann
}

// showsDomain says whether a shown domain (dotted: of more than one
// label) is read as an address's, not as prose: it could name a domain
// of the internet or of a private network (namesDomain), or it is one
// of the organisation's own domains or a subdomain of one (isOwn).
//
// Prose is read only where a reader cannot take the text for another's
// address, so three readings come first (rr25 F1, F2):
//   - a dotted domain with any character outside ASCII (invisible marks
//     set aside) is an address: a look-alike letter ("bank.сom" with a
//     Cyrillic es, "cοm" with a Greek omicron, "corp.lаn") shows
//     a top-level or own domain no comparison of letters would find, and
//     a name of another script's letters after a dot is rare in prose
//     (the cost: "Café @ Mt. Zürich" is refused);
//   - a top label is also read without the characters a reader sets
//     apart after it (topVariants: "bank.com-", "bank.com1" show
//     bank.com; "corp.lan-" corp.lan);
//   - a top label that names nothing is also read as junk after the
//     domain before it, while that has two labels or more:
//     "paypal.com.verify", "example.org.zz" and "corp.lan.x1" show
//     paypal.com, example.org and corp.lan; "St. Louis" and "prod.db"
//     keep one label once cut, and stay prose.
//
// An ASCII shown domain is read as a reader may misread it too
// (asciiReadings, rr25 front25 F1, F2): "corp.Ian" shows corp.lan,
// "bank.corn" and "bank.c0m" bank.com, "paypal.com-verify" paypal.com.
func showsDomain(domain string, dotted bool, own func(string) bool) bool {
	d := strings.Trim(dropInvisible(domain), ".")
	if dotted && !isASCII(d) {
		return true
	}
	if !dotted {
		return showsDomainAsWritten(d, dotted, own)
	}
	for _, r := range asciiReadings(d) {
		if showsDomainAsWritten(r, dotted, own) {
			return true
		}
	}
	return false
}

// asciiLookAlikeRules are the ASCII characters a reader takes for
// others in most typefaces, in pairs: capital I, one and bar for a small
// l, zero for o, "rn" for m, "vv" for w. Applied before lower-casing (an
// "I" is an "l" only as a capital); all at once and each pair on its own
// (asciiFolds): an own domain holding one of them ("learn.lan",
// "site1.lan") is then found in a spoof that imitates another of its
// letters ("Iearn.lan", "site1.Ian"), which folding all at once would
// turn into neither.
var asciiLookAlikeRules = []string{"I", "l", "1", "l", "|", "l", "0", "o", "rn", "m", "vv", "w"}

// asciiReadings are the readings of a dotted ASCII shown domain: as
// written; its top label without the digits and marks it ends with
// (topVariants: "com1" is com), so that a folded "1" stays apart too;
// each of these with its look-alikes folded (asciiFolds); and each
// reading with its top label cut at its first hyphen where three
// letters or more are left — a top-level label has no hyphen (an
// A-label's "xn--" aside), so "com-verify" is com and junk, while
// "us-east" (a cloud region) stays a word.
func asciiReadings(d string) []string {
	out := []string{d}
	add := func(r string) {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	i := strings.LastIndexByte(d, '.')
	if c := strings.TrimRightFunc(d[i+1:], func(r rune) bool { return !unicode.IsLetter(r) }); c != "" && c != d[i+1:] {
		add(d[:i+1] + c)
	}
	for _, r := range out[:len(out):len(out)] {
		for _, f := range asciiFolds(r) {
			add(f)
		}
	}
	for _, r := range out[:len(out):len(out)] {
		i := strings.LastIndexByte(r, '.')
		top := r[i+1:]
		if strings.HasPrefix(strings.ToLower(top), "xn--") {
			continue
		}
		if j := strings.IndexByte(top, '-'); j >= 3 {
			add(r[:i+1] + top[:j])
		}
	}
	return out
}

// asciiFolds are r with its look-alikes folded: all at once, and each
// pair of asciiLookAlikeRules on its own. A digit in a top label of two
// characters or fewer is kept: "db.n1", "node.c0" are host names, not
// nl or co.
func asciiFolds(r string) []string {
	i := strings.LastIndexByte(r, '.')
	base, top := r[:i+1], r[i+1:]
	shortTop := len(top) <= 2
	out := make([]string, 0, len(asciiFoldSets))
	for _, f := range asciiFoldSets {
		switch {
		case !shortTop:
			out = append(out, f.all.Replace(r))
		case f.letters == nil:
			out = append(out, f.all.Replace(base)+top)
		default:
			out = append(out, f.all.Replace(base)+f.letters.Replace(top))
		}
	}
	return out
}

// asciiFold is one set of asciiFolds' pairs, its replacers made once: all
// its pairs, and its pairs without a digit (for a short top label; nil
// when no pair is left).
type asciiFold struct{ all, letters *strings.Replacer }

// asciiFoldSets are asciiFolds' sets: every pair of asciiLookAlikeRules
// at once, then each pair on its own.
var asciiFoldSets = func() []asciiFold {
	set := func(pairs []string) asciiFold {
		f := asciiFold{all: strings.NewReplacer(pairs...)}
		var letters []string
		for k := 0; k < len(pairs); k += 2 {
			if pairs[k] != "0" && pairs[k] != "1" {
				letters = append(letters, pairs[k], pairs[k+1])
			}
		}
		if len(letters) > 0 {
			f.letters = strings.NewReplacer(letters...)
		}
		return f
	}
	sets := []asciiFold{set(asciiLookAlikeRules)}
	for k := 0; k < len(asciiLookAlikeRules); k += 2 {
		sets = append(sets, set(asciiLookAlikeRules[k:k+2]))
	}
	return sets
}()

// showsDomainAsWritten is showsDomain for one reading of the domain:
// its top label, else the domain cut back label by label while two or
// more remain.
func showsDomainAsWritten(d string, dotted bool, own func(string) bool) bool {
	for {
		if namesDomain(d, dotted) || isOwn(d, own) {
			return true
		}
		i := strings.LastIndexByte(d, '.')
		if i < 0 {
			return false
		}
		rest := strings.TrimRight(d[:i], ".")
		if !strings.Contains(rest, ".") {
			return false // one label left: "St. Louis" is prose
		}
		d = rest
	}
}

// dropInvisible sets aside the invisible marks of a shown domain
// (isInvisibleMark): they show nothing.
func dropInvisible(d string) string {
	return strings.Map(func(r rune) rune {
		if isInvisibleMark(r) {
			return -1
		}
		return r
	}, d)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// namesDomain says whether a shown domain (dotted: of more than one
// label) could name a domain of the internet or of a private network,
// by its top label: an ICANN top-level domain (isTLD) — "n@ai",
// "ceo@bank.com" — or, for a dotted one, a top-level name reserved for
// special use, which names domains in test networks, private networks
// and overlays (RFC 6761: test, example, invalid, localhost; RFC 6762:
// local; RFC 7686: onion; RFC 9476: alt; ICANN's private-use internal):
// "ceo@bank.test", "hr@corp.internal". A top label that is neither is a
// word of prose ("Sales @ St. Louis", "Alerts @ prod.db"): no domain
// DMARC could protect or a sender align with. Each reading of the top
// label counts (topVariants).
func namesDomain(domain string, dotted bool) bool {
	for _, t := range topVariants(strings.ToLower(dropInvisible(topLabel(domain)))) {
		if isTLD(t) {
			return true
		}
		switch t {
		case "test", "example", "invalid", "localhost", "local", "onion", "alt", "internal":
			if dotted {
				return true
			}
		}
	}
	return false
}

// topVariants are the readings of a top label (lower case): as written;
// its ASCII letters, digits and hyphens when another character follows
// them (another script's: a reader may show it apart, as a right-to-left
// paragraph shows "bank . test١": bank.test); and each of these
// without the characters other than letters at its end, which a reader
// sets apart as junk after the domain ("bank.com-", "bank.com1":
// bank.com; rr25 F2).
func topVariants(top string) []string {
	out := []string{top}
	if i := strings.IndexFunc(top, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}); i > 0 {
		out = append(out, top[:i])
	}
	for _, t := range out[:len(out):len(out)] {
		if c := strings.TrimRightFunc(t, func(r rune) bool { return !unicode.IsLetter(r) }); c != "" && c != t {
			out = append(out, c)
		}
	}
	return out
}

// topLabel is the last label of a shown domain (a final dot set aside).
func topLabel(d string) string {
	d = strings.TrimRight(d, ".")
	return d[strings.LastIndexByte(d, '.')+1:]
}

// isOwn says whether a shown domain is one of the organisation's own
// domains or a subdomain of one (own, MailboxesOwn): read as a reader
// shows it — invisible marks set aside, lower case, its A-labels (the
// shown text is folded already: fold), its top label in each of its
// readings (topVariants: "corp.lan-" is corp.lan).
func isOwn(d string, own func(string) bool) bool {
	if own == nil {
		return false
	}
	d = strings.Trim(dropInvisible(d), ".")
	base, top := "", d
	if i := strings.LastIndexByte(d, '.'); i >= 0 {
		base, top = d[:i+1], d[i+1:]
	}
	for _, t := range topVariants(strings.ToLower(top)) {
		a, err := idna.Lookup.ToASCII(base + t)
		if err != nil {
			a = strings.ToLower(base + t)
		}
		for a != "" {
			if own(a) {
				return true
			}
			i := strings.IndexByte(a, '.')
			if i < 0 {
				break
			}
			a = a[i+1:]
		}
	}
	return false
}

// hasAlnum says whether a shown local part holds a letter or digit: "|"
// set before " @jane.doe" is no mailbox's name.
func hasAlnum(local string) bool {
	return strings.IndexFunc(local, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// aroundLeft and aroundRight: what may stand around an address in a
// name without being part of it, besides the punctuation marks of
// Unicode categories Ps, Pe, Pi and Pf.
const (
	aroundLeft  = "'`\"([{<"
	aroundRight = "'`\")]}>.,;:!?"
)

func isQuoteMark(r rune) bool {
	return r >= 0x80 && unicode.In(r, unicode.Ps, unicode.Pe, unicode.Pi, unicode.Pf)
}

func isAroundLeft(r rune) bool {
	return r < 0x80 && strings.ContainsRune(aroundLeft, r) || isQuoteMark(r)
}

func isAroundRight(r rune) bool {
	return r < 0x80 && strings.ContainsRune(aroundRight, r) || isQuoteMark(r)
}

// nextShownAddress is the index of the first '@' at or after from in a
// shown text d with an address byte on each side (x@y, <x@y>), 0 when
// there is none.
func nextShownAddress(d string, from int) int {
	for i := max(from, 1); i+1 < len(d); i++ {
		if d[i] == '@' && isAddrByte(d[i-1]) && isAddrByte(d[i+1]) {
			return i
		}
	}
	return 0
}

// unquote removes quotes and backslashes (built once: a Replacer is
// costly to build and safe for concurrent use).
var unquote = strings.NewReplacer("\\", "", "\"", "")

// decodeWords decodes the encoded words of s (decodeWord: each in its
// charset), dropping the white space between two of them as a reader
// does (RFC 2047 §6.2: "ceo" and "@x" shown as "ceo@x"). twoWays and
// alt as decodeCharset's; unknown is the first word in a charset not
// decoded here, "" if none.
func decodeWords(s string, alt bool) (out string, twoWays bool, unknown string) {
	if !strings.Contains(s, "=?") {
		return s, false, ""
	}
	words := encodedWord.FindAllStringIndex(s, -1)
	if words == nil {
		return s, false, ""
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for k, w := range words {
		if gap := s[last:w[0]]; k == 0 || strings.Trim(gap, " \t") != "" {
			b.WriteString(gap)
		}
		d, two, known := decodeWord(s[w[0]:w[1]], alt)
		if !known && unknown == "" {
			unknown = s[w[0]:w[1]]
		}
		twoWays = twoWays || two
		b.WriteString(d)
		last = w[1]
	}
	b.WriteString(s[last:])
	return b.String(), twoWays, unknown
}

// sameDomain compares two domains as DNS does: case folded, a final
// dot not counted, a U-label the same as its A-label.
func sameDomain(a, b string) bool {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	if strings.EqualFold(a, b) {
		return true
	}
	a2, err1 := idna.Lookup.ToASCII(a)
	b2, err2 := idna.Lookup.ToASCII(b)
	return err1 == nil && err2 == nil && strings.EqualFold(a2, b2)
}

// sameOrgDomain: the same domain (sameDomain), or two with the same
// organisational domain (RFC 7489 §3.2: the public suffix plus one
// label, as internal/msgauth's relaxed alignment reads it), each as its
// A-label in lower case without a final dot.
func sameOrgDomain(a, b string) bool {
	if sameDomain(a, b) {
		return true
	}
	org := func(d string) string {
		d, err := idna.Lookup.ToASCII(strings.TrimSuffix(d, "."))
		if err != nil || d == "" {
			return ""
		}
		o, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(d))
		if err != nil {
			return ""
		}
		return o
	}
	oa := org(a)
	return oa != "" && oa == org(b)
}

func isAddrByte(c byte) bool { return isAtext(c) || c == '.' || c == '[' || c == ']' }

// decodeWord decodes one encoded word (Q or B, as leniently as a reader
// does: base64 without padding, a stray '=' in a Q word kept) in its
// charset (decodeCharset), or returns it as written where it does not
// decode. known is false for a charset not decoded here.
func decodeWord(w string, alt bool) (text string, twoWays, known bool) {
	charset, rest, ok := strings.Cut(w[2:len(w)-2], "?")
	enc, text, ok2 := strings.Cut(rest, "?")
	if !ok || !ok2 || strings.Contains(text, "?") {
		return w, false, true
	}
	var raw []byte
	if enc == "b" || enc == "B" {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
		if err != nil {
			return w, false, true
		}
		raw = b
	} else {
		raw = decodeQ(text)
	}
	d, known, twoWays := decodeCharset(charset, raw, alt)
	return d, twoWays, known
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
