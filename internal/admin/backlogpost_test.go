package admin

import (
	"strings"
	"testing"
)

// OPS-3 (rr-sockadm25 F4): a POST refused at connect (EAGAIN) was never sent, yet
// is told "whether it took effect is unknown: look before repeating it".
// The daemon is busy as in TestBacklogFullIsBusyNotGone: its listen
// backlog full (fullBacklogClient).
func TestBacklogFullPostSaysNothingSent(t *testing.T) {
	c := fullBacklogClient(t)
	err := c.doBody("POST", "/v1/queues/retry", nil, nil, nil)
	t.Log(err)
	if err == nil || strings.Contains(err.Error(), "whether it took effect is unknown") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("a POST refused at connect (nothing was sent): %v", err)
	}
}
