package msgauth

import (
	"strings"
	"testing"
)

// SMTP-5, EDGE-1 (rt21b M1, L1): DMARC reads the From: of the header
// section umbra stores, which ends at the first line that is neither a
// field nor a continuation (package smtp): a From: line below such a
// line is body, so the message has no author and is refused as one
// without From:, never passed on a From: no reader shows as the author.
// A leading continuation line starts the body too, and nothing of the
// client's text is lost on the way. The same in memory and spooled, over
// DATA and BDAT.
func TestAuthorIsInTheStoredHeaderSection(t *testing.T) {
	for _, spool := range []int64{0, 64} {
		e := startEdgeWith(t, spool, "{profile: internet}", senderZone...)
		for _, first := range []string{
			"garbage first line\r\n",
			"\xef\xbb\xbfX-Hi: there\r\n",
			"From ceo@example.org Thu Dec  3 00:00:00 2026\r\n",
			" X-First: folded-first-line-MARKER\r\n",
		} {
			for _, bdat := range []bool{false, true} {
				msg := first + "From: a@spfok.test\r\nSubject: t\r\n\r\nhello bob, a body long enough to be spooled\r\n"
				got := e.sendWith(t, "client.test", "a@spfok.test", msg, bdat)
				if !strings.HasPrefix(got, "550 5.7.1") || !strings.Contains(got, "no From: field") {
					t.Errorf("spool %d, bdat %v, first line %q: %q, want 550 5.7.1 … no From: field", spool, bdat, first, got)
				}
			}
		}
		// With the From: above the line that is no field, it is the
		// author; the rest is body, kept byte for byte after the empty
		// line umbra puts there.
		for _, bdat := range []bool{false, true} {
			msg := "From: a@spfok.test\r\nSubject: s\r\n X-Cont: MARKER-1\r\ngarbage MARKER-2\r\nFrom: b@reject.test\r\n\r\nbody\r\n"
			if got := e.sendWith(t, "client.test", "a@spfok.test", msg, bdat); !strings.HasPrefix(got, "250") {
				t.Fatalf("spool %d, bdat %v: %q", spool, bdat, got)
			}
			_, body := e.q.last(t)
			wantAll(t, authResults(t, body), "dmarc=pass (p=reject) header.from=spfok.test")
			if !strings.Contains(body, "\r\nFrom: a@spfok.test\r\nSubject: s\r\n X-Cont: MARKER-1\r\n\r\ngarbage MARKER-2\r\nFrom: b@reject.test\r\n\r\nbody\r\n") {
				t.Errorf("spool %d, bdat %v: stored\n%s", spool, bdat, body)
			}
		}
	}
}
