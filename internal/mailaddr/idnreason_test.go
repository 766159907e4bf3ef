package mailaddr

import (
	"errors"
	"strings"
	"testing"
)

// SMTP-1 (front48 item 5): the reason a label is refused for is in fixed
// words, never the idna package's Go quoting of the decoded label
// ("\u0082"), which no client wrote.
func TestLabelReasonHoldsNoGoQuoting(t *testing.T) {
	for _, d := range []string{"XN--ABCK.example.test", "Xn--Zz-1Ab.example.test"} {
		_, err := Domain(d)
		var le *LabelError
		if !errors.As(err, &le) {
			t.Fatalf("%s: %v, want a LabelError", d, err)
		}
		if strings.Contains(le.Reason, `\u`) || strings.Contains(le.Reason, `"`) {
			t.Errorf("%s: reason %q quotes the decoded label", d, le.Reason)
		}
		if le.Label != strings.Split(d, ".")[0] {
			t.Errorf("%s: label %q, want it as written", d, le.Label)
		}
	}
}
