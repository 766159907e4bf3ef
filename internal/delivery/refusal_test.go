package delivery

import (
	"errors"
	"fmt"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// Which replies make a session to a primary a refusal (the primary is
// alive and refuses this server: no failed heartbeat) and which a
// failure. rt18 F5: a 421 to AUTH (the primary shutting down) was taken
// for a refusal, so shadow list showed "refused: 421 4.3.2 …" and the
// heartbeat was not counted.
func TestRefusalReplies(t *testing.T) {
	reply := func(code int, enh gosmtp.EnhancedCode) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: "text"}
	}
	auth := func(e *gosmtp.SMTPError) error {
		return &authFailed{msg: "login refused: " + e.Error(), err: e, peerDigest: "d1"}
	}
	for _, c := range []struct {
		name    string
		err     error
		refusal bool
	}{
		{"535 to AUTH", auth(reply(535, gosmtp.EnhancedCode{5, 7, 8})), true},
		{"454 to AUTH (lockout)", auth(reply(454, gosmtp.EnhancedCode{4, 7, 0})), true},
		{"421 to AUTH (shutting down)", auth(reply(421, gosmtp.EnhancedCode{4, 3, 2})), false},
		{"550 to XSHADOW", fmt.Errorf("XSHADOW: %w", reply(550, gosmtp.EnhancedCode{5, 7, 1})), true},
		{"421 to XSHADOW", fmt.Errorf("XSHADOW: %w", reply(421, gosmtp.EnhancedCode{4, 3, 2})), false},
		{"451 to XQUERYDISCARD", reply(451, gosmtp.EnhancedCode{4, 3, 0}), false},
		{"connection refused", errors.New("dial tcp: connection refused"), false},
	} {
		var ref *refusedError
		got := errors.As(refusal(c.err), &ref)
		if got != c.refusal {
			t.Errorf("%s: refusal %v, want %v", c.name, got, c.refusal)
		}
		if got && ref.err == nil {
			t.Errorf("%s: the refusal lost its error", c.name)
		}
	}
}
