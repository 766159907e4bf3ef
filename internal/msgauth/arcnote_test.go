package msgauth

import (
	"strings"
	"testing"
)

// The override's note is umbra's own words (doc.go: never text of the
// message): it names the trusted sealer as the configuration does, as
// DNS holds it, not the seal's d= as the message spells it (a U-label in
// capitals and a final dot here, raw UTF-8 the comment would carry), and
// it writes no "=", which a parser searching the field would read as a
// result inside the dmarc=fail comment.
func TestARCOverrideNoteIsUmbrasWords(t *testing.T) {
	k := edKey(t)
	zone := append(senderZone, zoneTXT("arc._domainkey.xn--bcher-kva.test", k.record))
	e := startEdge(t, "{profile: internet, trusted_arc_sealers: [xn--bcher-kva.test]}", zone...)
	msg := arcSeal(t, message("a@reject.test", "list-idn-sealer"), "BÜCHER.test.", "arc", k, "none",
		"spf=pass smtp.mailfrom=reject.test; dmarc=pass header.from=reject.test")
	if got := e.send(t, "list.lists.test", "list-bounces@lists.test", msg); !strings.HasPrefix(got, "250") {
		t.Fatalf("trusted sealer as a U-label: %q", got)
	}
	_, body := e.q.last(t)
	ar := authResults(t, body)
	_, dm, _ := strings.Cut(ar, "dmarc=fail (")
	note, _, _ := strings.Cut(dm, ")")
	if want := "p=reject override: ARC pass sealed by xn--bcher-kva.test, which recorded a DMARC pass"; note != want {
		t.Errorf("dmarc comment %q, want %q\n%s", note, want, ar)
	}
	// A domain property is the U-label's A-label, not the ASCII left of
	// it (pvalue drops other bytes: "BCHER.test." named another domain).
	if !strings.Contains(ar, "arc=pass (i=1) header.d=xn--bcher-kva.test") {
		t.Errorf("arc header.d: %s", ar)
	}
	for i := 0; i < len(ar); i++ {
		if ar[i] >= 0x7f {
			t.Fatalf("a byte 0x%x in umbra's Authentication-Results: %s", ar[i], ar)
		}
	}
}
