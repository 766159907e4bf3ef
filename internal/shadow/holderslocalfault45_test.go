package shadow

import (
	"context"
	"errors"
	"testing"
)

// SR-6 (rt45 redirect, the local-failure rule): a probe of a holder that
// failed by a fault of this server's own (LocalFault: a source address
// it cannot bind) says nothing of whether the holder is up: it is not
// noted unreached — its copies not counted toward "not reachable" —,
// while a probe that found no answer is.
func TestSR6HolderProbeLocalFaultIsNoUnreachedHolder(t *testing.T) {
	h := NewHolders(HoldersConfig{})
	h.noteAway([]string{"hub-b", "hub-c"})
	h.noteProbes(context.Background(), []string{"hub-b", "hub-c"}, []error{sourceFaultErr{}, errors.New("connection refused")})
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.unreached["hub-b"]; ok {
		t.Errorf("hub-b noted unreached for a probe that failed here before any connection")
	}
	if _, ok := h.unreached["hub-c"]; !ok {
		t.Errorf("hub-c, which did not answer, not noted unreached: the test proves nothing")
	}
}
