package smtp

import (
	"strconv"
	"strings"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/shadowid"
)

// verbs40 F3 (W-2): XQUERYTAKENDONE's arguments read from any input to a
// bounded answer or a refusal, never a panic; what is accepted is a
// form of the version (no HELD below 16, no BUSY below 21, no FROM=
// below 22), max 1 to 10 digits, FROM= a valid database id, and the
// client's form of it reads back the same.
func FuzzTakenDoneArgs(f *testing.F) {
	for _, s := range []string{"10", "10 HELD", "10 held busy", "10 HELD BUSY FROM=0123abcd", "10 HELD BUSY FROM=", "+5", "0",
		"99999999999", "9999999999 HELD BUSY FROM=a", "10 BUSY", "10 HELD BUSY FROM=a/b", " 10  HELD ", "10 HELD BUSY FROM=a X", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		for _, v := range []int{15, 16, BusyVersion, TakenOverVersion} {
			max, held, busy, from, ok := parseTakenDoneArgs(arg, v)
			if !ok {
				continue
			}
			if max < 1 || max > 9999999999 {
				t.Fatalf("%q at %d: max %d", arg, v, max)
			}
			if held && v < 16 || busy && (v < BusyVersion || !held) || from != "" && (v < TakenOverVersion || !busy || !shadowid.Valid(from)) {
				t.Fatalf("%q at %d: held %v busy %v from %q", arg, v, held, busy, from)
			}
			again := strconv.Itoa(max)
			if held {
				again += " HELD"
			}
			if busy {
				again += " BUSY"
			}
			if from != "" {
				again += " FROM=" + from
			}
			if m2, h2, b2, f2, ok := parseTakenDoneArgs(again, v); !ok || m2 != max || h2 != held || b2 != busy || f2 != from {
				t.Fatalf("%q at %d: the client's form %q reads back as %d %v %v %q %v", arg, v, again, m2, h2, b2, f2, ok)
			}
		}
	})
}

// verbs40 F3 (W-2): XDISCARD's notifications read from any input to
// lines the queue reads as a shadow id, a delay note of one or a partial
// discard of one whose RCPT= was xtext — or a refusal, never a panic.
func FuzzDiscardLines(f *testing.F) {
	for _, s := range []string{"a-1", "a-1 RCPT=x+40y", "a-1 RCPT=+ZZ", "a-1 RCPT=%%%", "a-1 DELAYED", "a-1 DELAYED b-2 RCPT=z", "RCPT=x", "a/b", "",
		"a-1 RCPT=", "a-1 RCPT=a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		for _, several := range []bool{false, true} {
			lines, ok := discardLines(arg, several, several)
			if !ok {
				continue
			}
			if len(lines) == 0 || len(lines) > MaxPushDiscards {
				t.Fatalf("%q: %d lines", arg, len(lines))
			}
			for _, l := range lines {
				if shadowid.Valid(l) {
					continue
				}
				if id, ok := strings.CutSuffix(l, queue.DelayNoteSuffix); ok && shadowid.Valid(id) {
					continue
				}
				if pd, ok := queue.ParsePartialDiscard(l); ok && shadowid.Valid(pd.ID) && pd.Addr != "" {
					continue
				}
				t.Fatalf("%q: line %q reads as nothing the queue takes", arg, l)
			}
		}
	})
}
