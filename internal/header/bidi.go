package header

import (
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/bidi"
)

// The visual order of a name (bidi23). A display name or comment is
// shown in the order the Unicode Bidirectional Algorithm (UAX #9) gives
// it, not as written: a right-to-left character — a Hebrew or Arabic
// letter, or the invisible marks U+200F RIGHT-TO-LEFT MARK and U+061C
// ARABIC LETTER MARK — between two Latin words in a right-to-left
// paragraph puts the second word to the left of the first, so
// "\u200forg \u200f. \u200fexample \u200f@ \u200fceo" shows
// "ceo @ example . org" to a reader whose paragraph is right to left (its
// first strong character is the mark, or the reader's own direction is
// right to left). U+200E LEFT-TO-RIGHT MARK is a strong left-to-right
// character: it moves no Latin word, but changes where the neutral
// characters around it ('@', '.', white space) go. So a name that holds
// a right-to-left character is read in its visual orders too
// (visualOrders), and an address shown there counts as one written.
// The explicit embeddings, overrides and isolates (U+202A–U+202E,
// U+2066–U+2069) are refused before (bidiControl): a name needs none.

// visualOrders returns s as readers lay it out on one line, left to
// right, where s holds a right-to-left character or an Arabic digit
// (Bidi_Class R, AL or AN: an Arabic-Indic digit between Latin words
// reorders them in a right-to-left paragraph as a letter does):
// with a left-to-right paragraph, with a right-to-left one, and with
// each paragraph's direction its first strong character's (UAX #9 P2,
// P3: dir=auto, a reader that takes the direction from the text); nil
// where s holds none (its order is the one written, whatever the
// paragraph's direction: Latin words are never reordered among
// themselves without one). The levels are UAX #9's implicit ones (W1–W7,
// N0 bracket pairs, N1–N2, I1–I2, L1, L2, L4's mirrored brackets);
// explicit formatting characters, refused before, and boundary neutrals
// are read as neutrals (the text is also laid out without the boundary
// neutrals, below). Total and linear; the bytes of each character
// are kept (a byte that is not UTF-8 is a neutral). Checked against
// golang.org/x/text's implementation and UAX #9's bracket examples
// (bidilevels_test.go); that package's Paragraph is not called here: it
// panics where an internal assert fails, and it never pairs brackets.
//
// A boundary neutral (Bidi_Class BN: U+00AD, U+200B–U+200D, U+2060,
// U+FEFF, U+180E…) is removed before resolution (UAX #9 X9) and shown
// as nothing: read as a neutral it would split a run it does not split
// for a reader ("test\u00ad\u0661 \u200f. bank \u200f@ ceo" shows
// "ceo @ bank . test\u0661" in a right-to-left paragraph, rr23 F1). So
// where s holds one, s without them is laid out too (the views of s as
// written are kept: a reader that does not implement X9 shows those).
func visualOrders(s string) []string {
	if !hasRTL(s) {
		return nil
	}
	var out []string
	out = appendVisualOrders(out, s, s)
	if t := withoutBN(s); t != s {
		out = appendVisualOrders(out, s, t)
	}
	return out
}

// withoutBN is s without its boundary neutrals (UAX #9 X9); a byte that
// is not UTF-8 is kept.
func withoutBN(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		_, c, n := bidiClass(s[i:])
		if c != bidi.BN {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// appendVisualOrders adds to out the layouts of t (s, or s without its
// boundary neutrals) in each paragraph direction, but for s itself and
// those already in out.
func appendVisualOrders(out []string, s, t string) []string {
	for _, dir := range []int{0, 1, -1} {
		var b strings.Builder
		b.Grow(len(t))
		rest := t
		for rest != "" {
			// Paragraphs (UAX #9 P1): each ends after a paragraph
			// separator.
			end, para := len(rest), rest
			for i := 0; i < len(rest); {
				_, c, n := bidiClass(rest[i:])
				if c == bidi.B {
					end, para = i+n, rest[:i+n]
					break
				}
				i += n
			}
			b.WriteString(visualLine(para, dir))
			rest = rest[end:]
		}
		if v := b.String(); v != s && !containsString(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// hasRTL says whether s holds a character of Bidi_Class R, AL or AN.
func hasRTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x80 {
			continue
		}
		_, c, n := bidiClass(s[i:])
		if c == bidi.R || c == bidi.AL || c == bidi.AN {
			return true
		}
		i += n - 1
	}
	return false
}

// bidiClass is the bidi properties and class of the first character of
// s (not empty) and its length: a byte that is not UTF-8 is a neutral
// (ON) of one byte.
func bidiClass(s string) (bidi.Properties, bidi.Class, int) {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return bidi.Properties{}, bidi.ON, 1
	}
	p, _ := bidi.LookupRune(r)
	return p, p.Class(), n
}

// visualLine is one paragraph laid out on one line: dir 0 a
// left-to-right paragraph, 1 a right-to-left one, -1 the direction of
// its first strong character (left to right where there is none).
func visualLine(s string, dir int) string {
	cs, _ := bidiLevels(s, dir)
	return reorderLine(s, cs)
}

// bidiChar is one character of a paragraph: its bytes, its class as
// looked up and as resolved, its level.
type bidiChar struct {
	start, end int
	r          rune
	orig, cls  bidi.Class
	level      int
	bracket    bool // Bidi_Paired_Bracket_Type open or close
	open       bool
}

// bidiLevels resolves the implicit levels of one paragraph (UAX #9 P2,
// P3 where dir is -1, W1–W7, N0–N2, I1–I2, L1); para is the paragraph's
// level.
func bidiLevels(s string, dir int) (cs []bidiChar, para int) {
	cs = make([]bidiChar, 0, len(s))
	for i := 0; i < len(s); {
		p, c, n := bidiClass(s[i:])
		switch c {
		case bidi.LRO, bidi.RLO, bidi.LRE, bidi.RLE, bidi.PDF, bidi.LRI, bidi.RLI, bidi.FSI, bidi.PDI, bidi.Control, bidi.BN:
			c = bidi.ON // refused before (bidiControl), or boundary neutrals
		}
		r, _ := utf8.DecodeRuneInString(s[i:])
		br := c == bidi.ON && p.IsBracket()
		cs = append(cs, bidiChar{start: i, end: i + n, r: r, orig: c, cls: c, bracket: br, open: br && p.IsOpeningBracket()})
		i += n
	}
	para = dir
	if para < 0 { // P2, P3
		para = 0
		for _, c := range cs {
			if c.cls == bidi.L {
				break
			}
			if c.cls == bidi.R || c.cls == bidi.AL {
				para = 1
				break
			}
		}
	}
	sos := bidi.L
	if para == 1 {
		sos = bidi.R
	}
	// W1: a non-spacing mark takes the class of the character before.
	for i := range cs {
		if cs[i].cls == bidi.NSM {
			if i == 0 {
				cs[i].cls = sos
			} else {
				cs[i].cls = cs[i-1].cls
			}
		}
	}
	// W2, W3: a European number after an Arabic letter is an Arabic
	// number; an Arabic letter is right to left.
	last := sos
	for i := range cs {
		switch cs[i].cls {
		case bidi.L, bidi.R, bidi.AL:
			last = cs[i].cls
		case bidi.EN:
			if last == bidi.AL {
				cs[i].cls = bidi.AN
			}
		}
	}
	for i := range cs {
		if cs[i].cls == bidi.AL {
			cs[i].cls = bidi.R
		}
	}
	// W4: one separator between two numbers of a kind.
	for i := 1; i+1 < len(cs); i++ {
		a, c, z := cs[i-1].cls, cs[i].cls, cs[i+1].cls
		switch {
		case c == bidi.ES && a == bidi.EN && z == bidi.EN, c == bidi.CS && a == bidi.EN && z == bidi.EN:
			cs[i].cls = bidi.EN
		case c == bidi.CS && a == bidi.AN && z == bidi.AN:
			cs[i].cls = bidi.AN
		}
	}
	// W5: terminators next to a European number are one.
	for i := 0; i < len(cs); {
		if cs[i].cls != bidi.ET {
			i++
			continue
		}
		j := i
		for j < len(cs) && cs[j].cls == bidi.ET {
			j++
		}
		if i > 0 && cs[i-1].cls == bidi.EN || j < len(cs) && cs[j].cls == bidi.EN {
			for k := i; k < j; k++ {
				cs[k].cls = bidi.EN
			}
		}
		i = j
	}
	// W6: the separators and terminators left are neutrals.
	for i := range cs {
		switch cs[i].cls {
		case bidi.ES, bidi.ET, bidi.CS:
			cs[i].cls = bidi.ON
		}
	}
	// W7: a European number after a left-to-right character is one.
	last = sos
	for i := range cs {
		switch cs[i].cls {
		case bidi.L, bidi.R:
			last = cs[i].cls
		case bidi.EN:
			if last == bidi.L {
				cs[i].cls = bidi.L
			}
		}
	}
	strong := func(c bidi.Class) (bidi.Class, bool) {
		switch c {
		case bidi.L:
			return bidi.L, true
		case bidi.R, bidi.EN, bidi.AN:
			return bidi.R, true
		}
		return 0, false
	}
	resolveBrackets(cs, sos, strong)
	// N1, N2: a run of neutrals between two strong characters of one
	// direction (numbers are right to left here) takes it, else the
	// paragraph's.
	for i := 0; i < len(cs); {
		if _, ok := strong(cs[i].cls); ok {
			i++
			continue
		}
		j := i
		for j < len(cs) {
			if _, ok := strong(cs[j].cls); ok {
				break
			}
			j++
		}
		before, after := sos, sos
		if i > 0 {
			before, _ = strong(cs[i-1].cls)
		}
		if j < len(cs) {
			after, _ = strong(cs[j].cls)
		}
		d := sos
		if before == after {
			d = before
		}
		for k := i; k < j; k++ {
			cs[k].cls = d
		}
		i = j
	}
	// I1, I2.
	for i := range cs {
		c, lv := cs[i].cls, para
		switch {
		case para == 0 && c == bidi.R:
			lv = 1
		case para == 0 && (c == bidi.EN || c == bidi.AN):
			lv = 2
		case para == 1 && (c == bidi.L || c == bidi.EN || c == bidi.AN):
			lv = 2
		}
		cs[i].level = lv
	}
	// L1: segment separators, white space before one and at the end
	// are at the paragraph's level.
	trailing := true
	for i := len(cs) - 1; i >= 0; i-- {
		switch cs[i].orig {
		case bidi.S, bidi.B:
			cs[i].level, trailing = para, true
		case bidi.WS:
			if trailing {
				cs[i].level = para
			}
		default:
			trailing = false
		}
	}
	return cs, para
}

// reorderLine lays the characters of s out left to right by their
// levels (UAX #9 L2), a bracket at an odd level mirrored (L4).
func reorderLine(s string, cs []bidiChar) string {
	// L2: from the highest level to the lowest odd one, each run at that
	// level or higher reversed.
	order := make([]int, len(cs))
	high, lowOdd := 0, 3
	for i := range cs {
		order[i] = i
		high = max(high, cs[i].level)
		if cs[i].level%2 == 1 {
			lowOdd = min(lowOdd, cs[i].level)
		}
	}
	for lv := high; lv >= lowOdd && lv > 0; lv-- {
		for i := 0; i < len(order); {
			if cs[order[i]].level < lv {
				i++
				continue
			}
			j := i
			for j < len(order) && cs[order[j]].level >= lv {
				j++
			}
			for a, z := i, j-1; a < z; a, z = a+1, z-1 {
				order[a], order[z] = order[z], order[a]
			}
			i = j
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, k := range order {
		c := cs[k]
		if c.level%2 == 1 && c.bracket { // L4: a mirrored bracket (an ON one)
			b.WriteString(bidi.ReverseString(s[c.start:c.end]))
			continue
		}
		b.WriteString(s[c.start:c.end])
	}
	return b.String()
}

// resolveBrackets is UAX #9 N0: the bracket pairs of the paragraph
// (BD16: an opening bracket and the next closing one that is its pair,
// at most 63 open at once) take the direction of the paragraph (sos) if
// a strong character of it is inside, else the other direction if one
// of that is inside and also the first strong character before the pair
// (or sos), else the paragraph's; a pair with no strong character inside
// is left neutral. Non-spacing marks after a bracket take its class.
func resolveBrackets(cs []bidiChar, sos bidi.Class, strong func(bidi.Class) (bidi.Class, bool)) {
	type open struct {
		close rune
		at    int
	}
	var stack []open
	var pairs [][2]int
scan:
	for i, c := range cs {
		switch {
		case !c.bracket:
		case c.open:
			if len(stack) == 63 {
				break scan
			}
			cl, _ := utf8.DecodeRuneInString(bidi.ReverseString(string(c.r)))
			stack = append(stack, open{close: cl, at: i})
		default:
			for k := len(stack) - 1; k >= 0; k-- {
				if stack[k].close == c.r {
					pairs = append(pairs, [2]int{stack[k].at, i})
					stack = stack[:k]
					break
				}
			}
		}
	}
	// In the order of the opening brackets; the first strong character
	// before each found by one pass forward (what lies before an
	// opening bracket is resolved by then: brackets of pairs opened
	// before it), so that the work stays linear.
	sort.Slice(pairs, func(a, b int) bool { return pairs[a][0] < pairs[b][0] })
	pos, before := 0, sos
	for _, p := range pairs {
		for ; pos < p[0]; pos++ {
			if x, ok := strong(cs[pos].cls); ok {
				before = x
			}
		}
		e := sos
		var other bool
		d := bidi.Class(255)
		for k := p[0] + 1; k < p[1]; k++ {
			if x, ok := strong(cs[k].cls); ok {
				if x == e {
					d = e
					break
				}
				other = true
			}
		}
		if d != e && other {
			d = e
			if before != e {
				d = before
			}
		}
		if d == bidi.Class(255) {
			continue
		}
		for _, at := range p {
			cs[at].cls = d
			for k := at + 1; k < len(cs) && cs[k].orig == bidi.NSM; k++ {
				cs[k].cls = d
			}
		}
	}
}
