package milter

import (
	"strings"
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

// rt19 fixg F4: a control character in a reply code's text keeps the
// refusal (the SMTP layer writes it \xNN); a malformed code is named as
// sent, not as the three digits read of it.
func TestMilterReplyCodeText(t *testing.T) {
	if e, err := parseReplyCode([]byte("550 5.7.1 esc\x1b[31m\x00")); err != nil || e.Code != 550 || e.Message != "esc\x1b[31m" {
		t.Errorf("ESC in text: %+v %v", e, err)
	}
	for in, want := range map[string]string{
		"0550 5.7.1 x": `"0550"`,
		"5500 x":       `"5500"`,
		"250 ok":       `"250"`,
		"55a x":        `"55a x"`,
	} {
		_, err := parseReplyCode(append([]byte(in), 0))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", in, err, want)
		}
	}
}
