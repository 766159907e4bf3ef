package admin

import (
	"errors"
	"fmt"
	"testing"

	"umbra/internal/queue"
)

// A message id the queue does not hold is named in the refusal,
// which stays ErrNotFound (404, exit 3); a refusal in its own words and
// any other error pass unchanged.
func TestMessageNotHereNamesID(t *testing.T) {
	id := queue.ID(0x2a)
	err := messageNotHere(id, queue.ErrNotFound)
	if want := "no such message " + id.String(); err == nil || err.Error() != want || !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("bare: %v, want %q and ErrNotFound", err, want)
	}
	wrapped := fmt.Errorf("cancel: %w", queue.ErrNotFound)
	if err := messageNotHere(id, wrapped); err.Error() != "cancel: no such message "+id.String() || !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("wrapped: %v", err)
	}
	other := &queue.NotFoundError{Msg: "no quarantined message x"}
	if err := messageNotHere(id, other); err != other {
		t.Errorf("own words changed: %v", err)
	}
	if err := messageNotHere(id, nil); err != nil {
		t.Errorf("nil: %v", err)
	}
}
