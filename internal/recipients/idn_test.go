package recipients

import (
	"context"
	"strings"
	"testing"
)

// SMTP-6: an internationalised domain in the recipient list is one
// domain in either form (rt17a F2): "@bücher.test" in the file or inline
// covers anna@xn--bcher-kva.test, and an A-label entry covers the
// U-label address, as for accepted domains. A domain IDNA refuses is
// refused with IDNA's reason, naming the label.
func TestListInternationalisedDomains(t *testing.T) {
	l, err := ParseFile([]byte("@bücher.test\nanna@münchen.test\nbob@xn--caf-dma.test\n"), "r.txt")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]Verdict{
		"anna@xn--bcher-kva.test": Known, "anna@BÜCHER.test": Known, "anna@bücher.test": Known,
		"anna@xn--mnchen-3ya.test": Known, "anna@münchen.test": Known, "otto@münchen.test": Unknown,
		"bob@café.test": Known, "bob@xn--caf-dma.test": Known,
	} {
		if got, _ := l.Lookup(context.Background(), addr); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
	if !l.Covers("xn--bcher-kva.test") || !l.Covers("münchen.test") {
		t.Error("the list does not cover its internationalised domains in both forms")
	}
	if _, err := NewList([]string{"anna@bücher.test", "@münchen.test"}); err != nil {
		t.Errorf("inline U-label entries: %v", err)
	}
	for _, bad := range []string{"@exa\u00admple.test", "anna@\u212aiosk.test", "a@xn--zz.test"} {
		_, err := ParseFile([]byte(bad+"\n"), "r.txt")
		if err == nil || !strings.Contains(err.Error(), "r.txt:1:") || !strings.Contains(err.Error(), "invalid internationalized domain name label") {
			t.Errorf("%q: %v, want refused at its line with IDNA's reason", bad, err)
		}
	}
}
