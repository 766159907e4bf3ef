package tracking

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt20c F3: a Message-ID longer than the 998 octets umbra keeps of it is
// found by an exact search with the whole id, as the operator has it from
// the message: the search compares as much as is kept.
func TestSearchFindsLongMessageID(t *testing.T) {
	long := "<" + strings.Repeat("x", 1900) + "@ext.test>"
	e := Entry{ID: "0001", MessageID: queue.CutMessageID(long)}
	for _, q := range []string{long, strings.Trim(long, "<>"), queue.CutMessageID(long)} {
		if !(Query{ID: q}).match(&e) {
			t.Errorf("a search by %d characters of the id found nothing", len(q))
		}
	}
	if (Query{ID: "<" + strings.Repeat("x", 1900) + "@other.test>"}).match(&Entry{ID: "0002", MessageID: "<short@ext.test>"}) {
		t.Error("a long id matched a short one")
	}
}
