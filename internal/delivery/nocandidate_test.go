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
