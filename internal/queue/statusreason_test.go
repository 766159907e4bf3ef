package queue

import "testing"

// A temporary status without a known subject (4.0.0 above all, a
// callout's bare 450 and a delay notice's own reply) reads as temporary:
// it was "delivery failed", which a sender reads as final. A permanent
// one keeps it; a known subject keeps its words (Q-3, SMTP-6).
func TestStatusReasonOfTemporaryFailureSaysSo(t *testing.T) {
	for status, want := range map[string]string{
		"4.0.0": "temporary failure",
		"4.9.9": "temporary failure",
		"4.0.7": "temporary failure",
		"5.0.0": "delivery failed",
		"5.9.9": "delivery failed",
		"4.2.2": "the recipient's mailbox is full",
		"4.3.9": "mail system problem",
		"2.0.0": "completed",
	} {
		if got := StatusReason(status); got != want {
			t.Errorf("StatusReason(%q) = %q, want %q", status, got, want)
		}
	}
}
