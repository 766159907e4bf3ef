package dumpster

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt20c F3: a removal by a Message-ID longer than the 998 octets kept of
// it selects the copy: the selection compares as much as is kept.
func TestSelectionLongMessageID(t *testing.T) {
	long := "<" + strings.Repeat("x", 1900) + "@ext.test>"
	e := queue.DumpsterEntry{Message: &queue.Message{MessageID: queue.CutMessageID(long)}}
	if !(Selection{MessageID: long}).match(e) {
		t.Error("the whole id selected nothing")
	}
	if (Selection{MessageID: long + "y"}).match(queue.DumpsterEntry{Message: &queue.Message{MessageID: "<short@ext.test>"}}) {
		t.Error("a long id selected a short one")
	}
}
