package delivery

import (
	"testing"

	"umbra/internal/shadow"
)

// rt30a F3: the recorder delivery is given (shadow.Recorder) takes the
// contacts of a pooled session with the time it was let in.
func TestRecorderTakesSessionContacts(t *testing.T) {
	var s Shadows = (*shadow.Recorder)(nil)
	if _, ok := s.(sessionContacts); !ok {
		t.Fatal("shadow.Recorder has no ContactOn/PresentedOn: a pooled session let in before a refusal ends it")
	}
}
