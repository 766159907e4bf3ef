package milter

import (
	"testing"
)

// rt19 fixc F5: a milter's reply code that RFC 5321 does not define
// (599, 480) reaches the client as 550 or 451 — the class kept, and its
// enhanced code and text — never as sent.
func TestMilterReplyCodeClamped(t *testing.T) {
	for in, want := range map[string]struct {
		code int
		msg  string
	}{
		"599 5.7.1 go away":          {550, "go away"},
		"599 go away":                {550, "go away"},
		"480 4.7.1 later":            {451, "later"},
		"554 5.7.1 spam":             {554, "spam"},
		"421 4.7.0 closing":          {421, "closing"},
		"452 4.3.1 full":             {452, "full"},
		"555 5.5.4 bad parameters":   {555, "bad parameters"},
		"599-5.7.1 a\r\n599 5.7.1 b": {550, "a\nb"},
	} {
		e, err := parseReplyCode(append([]byte(in), 0))
		if err != nil || e.Code != want.code || e.Message != want.msg || e.EnhancedCode[0] != want.code/100 {
			t.Errorf("%q: %+v %v, want %d %q", in, e, err, want.code, want.msg)
		}
	}
}
