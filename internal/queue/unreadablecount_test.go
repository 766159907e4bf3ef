package queue

import (
	"strings"
	"testing"
)

// OPS: the refusal of a backup with unreadable bodies agrees with its
// count: "1 message body is unreadable", never "1 message bodies are"
// (rt41 F6).
func TestUnreadableBodiesCountAgrees(t *testing.T) {
	one := UnreadableBody{What: "message 000661F9AE157A48", ID: 1, File: "f1", Problem: "missing"}
	if got := (&UnreadableBodiesError{Bodies: []UnreadableBody{one}}).Error(); !strings.HasPrefix(got, "1 message body is unreadable: ") ||
		!strings.Contains(got, "A backup without it would miss that body") {
		t.Errorf("one body: %s", got)
	}
	if got := (&UnreadableBodiesError{Bodies: []UnreadableBody{one, one}}).Error(); !strings.HasPrefix(got, "2 message bodies are unreadable: ") ||
		!strings.Contains(got, "A backup without them would miss those bodies") {
		t.Errorf("two bodies: %s", got)
	}
}
