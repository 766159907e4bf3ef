package smtp

import (
	"fmt"
	"testing"
	"time"
)

// The version-2 parsers read what a peer sends: XQUERYDISCARD's
// "<max> [WAIT=<seconds>]" on the primary, the XSHADOW keyword's version
// on the shadow server. Any input gives a bounded answer, never a panic,
// and what is accepted is what a client writes.
func FuzzShadowVerbArgs(f *testing.F) {
	for _, s := range []string{"10", "1000 WAIT=5", "5 wait=60", "5 WAIT=61", "0", "-1 WAIT=1", "5 WAIT=", "5 NOWAIT",
		"5 WAIT=1 X", "2", "", " 2 ", "99999999999999999999", "1 WAIT=-0"} {
		f.Add(s)
	}
	v2 := &session{srv: &Server{shadow: &signalShadow{}}}
	v1 := &session{srv: &Server{shadow: &fakeShadow{}}}
	f.Fuzz(func(t *testing.T, arg string) {
		if v := parseShadowVersion(arg); v < 1 || v > ShadowVersion {
			t.Fatalf("version %d from %q", v, arg)
		}
		for _, s := range []*session{v1, v2} {
			max, wait, partial, takeover, ok := s.parseDiscardArgs(arg)
			if !ok {
				continue
			}
			if partial || takeover {
				t.Fatalf("%q: PARTIAL accepted by a server below version 9", arg)
			}
			if max < 1 || wait < 0 || wait > maxDiscardWait*time.Second || wait%time.Second != 0 {
				t.Fatalf("%q: max %d wait %v", arg, max, wait)
			}
			if s == v1 && wait != 0 {
				t.Fatalf("%q: WAIT= accepted by a version-1 server", arg)
			}
			again := fmt.Sprint(max)
			if wait > 0 {
				again += fmt.Sprintf(" WAIT=%d", wait/time.Second)
			}
			if m2, w2, _, _, ok := s.parseDiscardArgs(again); !ok || m2 != max || w2 != wait {
				t.Fatalf("%q: the client's form %q reads back as %d %v %v", arg, again, m2, w2, ok)
			}
		}
	})
}

// W-4 with version 2: WAIT= is 1 to 60 seconds, as the README says; a
// client that wants no wait sends no WAIT= at all.
func TestDiscardWaitRange(t *testing.T) {
	v2 := &session{srv: &Server{shadow: &signalShadow{}}}
	for arg, ok := range map[string]bool{"5 WAIT=0": false, "5 WAIT=1": true, "5 WAIT=60": true, "5 WAIT=61": false, "5": true} {
		if _, _, _, _, got := v2.parseDiscardArgs(arg); got != ok {
			t.Errorf("%q: accepted %v, want %v", arg, got, ok)
		}
	}
}
