package header

import (
	"math/rand"
	"strings"
	"testing"

	"golang.org/x/text/unicode/bidi"
)

// bidi23 (1): umbra's implicit bidi levels (bidiLevels: W1–W7, N1–N2,
// I1–I2, L1) agree in direction, character by character, with
// golang.org/x/text's UAX #9 implementation (which the front door does
// not call: its internal asserts panic, and its Paragraph never pairs
// brackets — it compares a closing bracket's rune with the opening
// one's — so N0 is checked on UAX #9's own examples below), for random
// paragraphs of Latin, Hebrew and Arabic letters, European and Arabic
// digits, the marks RLM, LRM and ALM, a non-spacing mark, white space
// and the separators an address holds — with a left-to-right paragraph,
// a right-to-left one and the direction of the first strong character.
// Boundary neutrals (U+00AD, U+200B–U+200D, U+2060, U+FEFF, U+180E) are
// removed before resolution (UAX #9 X9, rr23 F1): umbra lays out the
// text without them (withoutBN) and x/text gives them any level, so the
// other characters are compared.
func TestBidiLevelsAgreeWithUAX9(t *testing.T) {
	alphabet := []string{"a", "b", "\u05d0", "\u05d1", "\u0639", "1", "2", "\u0663", " ", "@", ".", "<", "\u00a0",
		"\u200f", "\u200e", "\u061c", ",", "-", "+", "%", "\u0300", "\t", "'", "/", ":",
		"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e"}
	rng := rand.New(rand.NewSource(23))
	checked := 0
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		for k := 1 + rng.Intn(20); k > 0; k-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		s := b.String()
		for _, dir := range []int{-1, 0, 1} {
			all, ok := uax9Parity(s, dir)
			if !ok {
				continue
			}
			var want []int // without the boundary neutrals
			for i, r := range []rune(s) {
				if p, _ := bidi.LookupRune(r); p.Class() != bidi.BN {
					want = append(want, all[i])
				}
			}
			cs, _ := bidiLevels(withoutBN(s), dir)
			if len(cs) != len(want) {
				t.Fatalf("%q: %d characters, x/text %d", s, len(cs), len(want))
			}
			for i, c := range cs {
				if c.level%2 != want[i] {
					t.Fatalf("%+q (direction %d): character %d (%q) at level %d, x/text's is %s", s, dir, i, c.r, c.level,
						map[int]string{0: "even", 1: "odd"}[want[i]])
				}
			}
			checked++
		}
	}
	if checked < 45000 {
		t.Fatalf("only %d paragraphs compared", checked)
	}
}

// bidi23 (1): bracket pairs (UAX #9 N0), on the examples UAX #9 gives
// for it (its capitals, right-to-left letters, here Hebrew and Arabic
// ones), in a right-to-left paragraph: levels and the line laid out.
func TestBidiBracketPairsUAX9Examples(t *testing.T) {
	for _, c := range []struct {
		s, visual string
		levels    []int
	}{
		{"\u05d0\u05d1(\u05d2\u05d3[&ef]!)gh", "gh(![ef&]\u05d3\u05d2)\u05d1\u05d0", []int{1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 2, 2}},
		{"smith (fabrikam \u0639\u0631\u0628\u064a) \u05e2\u05d1\u05e8\u05d9\u05ea",
			"\u05ea\u05d9\u05e8\u05d1\u05e2 (\u064a\u0628\u0631\u0639 fabrikam) smith", nil},
		{"\u0639\u0631\u0628\u064a book(s)", "book(s) \u064a\u0628\u0631\u0639", nil},
	} {
		cs, _ := bidiLevels(c.s, 1)
		if c.levels != nil {
			for i, ch := range cs {
				if ch.level != c.levels[i] {
					t.Errorf("%q: character %d (%q) at level %d, UAX #9 says %d", c.s, i, ch.r, ch.level, c.levels[i])
				}
			}
		}
		if got := visualLine(c.s, 1); got != c.visual {
			t.Errorf("%q laid out as %q, UAX #9 says %q", c.s, got, c.visual)
		}
	}
}

// uax9Parity is each character's level parity as golang.org/x/text's
// bidi package resolves it (dir -1: the first strong character's
// direction; 1: right to left; 0: left to right, which x/text's options
// cannot ask for: s is resolved after a LEFT-TO-RIGHT MARK, which sets
// the paragraph's level by P2 and changes nothing else, sos being L
// already); ok is false where it fails.
func uax9Parity(s string, dir int) (out []int, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var p bidi.Paragraph
	var opts []bidi.Option
	if dir == 1 {
		opts = append(opts, bidi.DefaultDirection(bidi.RightToLeft))
	}
	if dir == 0 {
		defer func() {
			if ok {
				out = out[1:]
			}
		}()
		s = "\u200e" + s
	}
	if _, err := p.SetString(s, opts...); err != nil {
		return nil, false
	}
	o, err := p.Order()
	if err != nil {
		return nil, false
	}
	out = make([]int, len([]rune(s)))
	for i := 0; i < o.NumRuns(); i++ {
		r := o.Run(i)
		start, end := r.Pos()
		for k := start; k <= end; k++ {
			if r.Direction() == bidi.RightToLeft {
				out[k] = 1
			}
		}
	}
	return out, true
}
