package smtp

import (
	"math"
	"strings"
	"testing"

	"umbra/internal/shadowid"
)

// rrverbs40 F1 (W-2, SR-7): whatever umbra's own client writes in a
// shadow verb, umbra's server reads — at every version: the marks of
// XSHADOW (shadowMarkArgs, a uint64 to its last digit) and
// XQUERYTAKENDONE's arguments (takenDoneArgs) for any max the client
// may ask with. A refused verb from a legitimate peer fails its
// sessions: heartbeats, takeovers, deliveries twice.
func FuzzClientShadowArgsRead(f *testing.F) {
	const db = "0123456789abcdef0123456789abcdef"
	for _, m := range []uint64{0, 1, 9_999_999_999, 10_000_000_000, math.MaxUint64} {
		f.Add(m, true, db, 500, db)
		f.Add(m, false, db, 1, "")
	}
	f.Fuzz(func(t *testing.T, mark uint64, hasMark bool, dbID string, max int, from string) {
		if !shadowid.Valid(dbID) {
			dbID = db // the client presents its own database id, a valid one
		}
		max = 1 + int(uint(max)%9_999_999_999) // a positive count, as every caller's
		for v := 1; v <= ShadowVersion; v++ {
			for _, p := range []*presentedMark{nil, {mark: mark, hasMark: hasMark, db: dbID}} {
				args := shadowMarkArgs(p, v)
				if v < 7 {
					if args != "" {
						t.Fatalf("version %d: %q to a peer without marks", v, args)
					}
					continue
				}
				ask, got, has, gotDB, ok := parseMarkArgs(strings.TrimSpace(args))
				switch {
				case !ok || !ask:
					t.Fatalf("version %d: XSHADOW args %q not read", v, args)
				case p != nil && p.hasMark && (!has || got != mark || gotDB != dbID):
					t.Fatalf("version %d: %q read as mark %d (%v) of %q", v, args, got, has, gotDB)
				case has && !(p != nil && p.hasMark):
					t.Fatalf("version %d: %q read as a presented mark", v, args)
				case gotDB != "" && !has && v < 10:
					t.Fatalf("version %d: %q presents the database id alone", v, args)
				}
			}
			if v < 15 {
				continue
			}
			args := takenDoneArgs(max, from, v)
			gotMax, held, busy, gotFrom, ok := parseTakenDoneArgs(args, v)
			wantFrom := ""
			if v >= TakenOverVersion && shadowid.Valid(from) {
				wantFrom = from
			}
			if !ok || gotMax != max || held != (v >= 16) || busy != (v >= BusyVersion) || gotFrom != wantFrom {
				t.Fatalf("version %d: XQUERYTAKENDONE %q read as %d %v %v %q %v", v, args, gotMax, held, busy, gotFrom, ok)
			}
		}
	})
}
