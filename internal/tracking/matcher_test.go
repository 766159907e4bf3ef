package tracking

import (
	"testing"
)

// A search compares each log entry with forms of the query made once:
// no allocation per entry (the id's bracketed form, the lower-case
// sender and recipient), and the same answers as the query itself.
func TestQueryMatcherNoAllocationPerEntry(t *testing.T) {
	q := Query{ID: "<abc@Ext.test>", Sender: "Alice@", Recipient: "bob@"}
	m := q.matcher()
	hit := &Entry{ID: "0001", MessageID: "abc@Ext.test", Sender: "alice@a.test", Recipients: []string{"bob@b.test"}}
	miss := &Entry{ID: "0002", MessageID: "<other@ext.test>", Sender: "alice@a.test", Recipients: []string{"bob@b.test"}}
	if !m.match(hit) || !q.match(hit) || m.match(miss) || q.match(miss) {
		t.Fatal("matcher and query disagree")
	}
	if n := testing.AllocsPerRun(100, func() { m.match(hit); m.match(miss) }); n != 0 {
		t.Errorf("%v allocations per two entries", n)
	}
}
