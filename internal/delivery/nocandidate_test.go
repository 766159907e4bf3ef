package delivery

import (
	"errors"
	"fmt"
	"testing"
)

// SR-17 (verbs24, codes where text was matched): a recopy tells "no
// candidate left" from "the candidates refused" by the error's type, not
// by its text: a candidate's refusal quoting "no candidate" (its reply
// may say anything) is still a refusal, and the message of the error
// stays as the log and the record had it.
func TestNoCandidateToldByTypeNotText(t *testing.T) {
	refused := fmt.Errorf("%w: %s", ErrNoShadowServer, "hub-b: 550 5.7.1 no candidate slot free here")
	if noCandidate(refused) {
		t.Fatalf("a candidate's refusal whose text says %q was taken for no candidate left", "no candidate")
	}
	nc := error(&noCandidateError{pref: "prefer-remote"})
	if !noCandidate(nc) || !noCandidate(fmt.Errorf("recopy: %w", nc)) || !errors.Is(nc, ErrNoShadowServer) {
		t.Fatalf("no candidate left not told: %v", nc)
	}
	if got, want := nc.Error(), "no shadow server took the copy: no candidate for prefer-remote"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

// The same for a session's TLS failure (SR-17, TLS-): tlsFailed knows
// connectWith's refusal by its type, so a change of its words (or an
// error that merely starts with the same code) does not change the
// decision.
func TestTLSFailedToldByType(t *testing.T) {
	h := host{name: "hub-b", addr: "127.0.0.181:12801"}
	if err := tlsNotMet("%s: STARTTLS failed", h); !tlsFailed(answered{err}) || !tlsFailed(fmt.Errorf("dial: %w", answered{err})) {
		t.Fatalf("connectWith's TLS refusal %v not told", err)
	}
	if err := tlsNotMet("%s: reworded entirely", h); !tlsFailed(err) || err.Error() != "451 4.7.5 "+h.String()+": reworded entirely" {
		t.Fatalf("reworded: %v", err)
	}
	if tlsFailed(errors.New("451 4.7.5 some other error that starts with the code")) {
		t.Fatal("an error of other origin taken for a TLS failure by its text")
	}
}
