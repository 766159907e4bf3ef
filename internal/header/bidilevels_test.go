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
// and the separators an address holds — with a right-to-left paragraph
// and with the direction of the first strong character.
func TestBidiLevelsAgreeWithUAX9(t *testing.T) {
	alphabet := []string{"a", "b", "\u05d0", "\u05d1", "\u0639", "1", "2", "\u0663", " ", "@", ".", "<", "\u00a0",
		"\u200f", "\u200e", "\u061c", ",", "-", "+", "%", "\u0300", "\t", "'", "/", ":"}
	rng := rand.New(rand.NewSource(23))
	checked := 0
	for n := 0; n < 20000; n++ {
		var b strings.Builder
		for k := 1 + rng.Intn(20); k > 0; k-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		s := b.String()
		for _, dir := range []int{-1, 1} {
			want, ok := uax9Parity(s, dir)
			if !ok {
				continue
			}
			cs, _ := bidiLevels(s, dir)
			if len(cs) != len(want) {
				t.Fatalf("%q: %d characters, x/text %d", s, len(cs), len(want))
			}
			for i, c := range cs {
				if c.level%2 != want[i] {
					t.Fatalf("%q (direction %d): character %d (%q) at level %d, x/text's is %s", s, dir, i, c.r, c.level,
						map[int]string{0: "even", 1: "odd"}[want[i]])
				}
			}
			checked++
		}
	}
	if checked < 30000 {
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
// direction; 1: right to left); ok is false where it fails.
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
