package console

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// A queue shown suspended only because each of its messages is held
// (message suspend) is said to be so, as queue list says it — "suspended
// message by message, not as a queue" and how to release them — and
// offers no Resume: queue resume releases none of them. A queue the
// operator suspended keeps its Resume.
func TestConsoleQueueHeldMessageByMessageSaidSo(t *testing.T) {
	h := newHarness(t)
	h.q.queues = []queue.QueueInfo{
		{Name: "smarthost:each", DeliveryType: "smtp", Status: "suspended", Count: 1, ByState: map[string]int{"suspended": 1}},
		{Name: "smarthost:whole", DeliveryType: "smtp", Status: "suspended", Suspended: true, Count: 1, ByState: map[string]int{"ready": 1}},
	}
	h.login("ops", "s3cret-pass")
	_, page := h.do("GET", "/queues", nil, nil)
	row := func(name string) string {
		i := strings.Index(page, `<tr data-queue="`+name+`"`)
		if i < 0 {
			t.Fatalf("queues page lacks %s", name)
		}
		r := page[i:]
		return r[:strings.Index(r, "</tr>")]
	}
	each := row("smarthost:each")
	if strings.Contains(each, `data-op="resume"`) || !strings.Contains(each, "suspended message by message, not as a queue") ||
		!strings.Contains(each, "umbra message resume --queue smarthost:each") {
		t.Errorf("queue held message by message:\n%s\nwant the CLI's line and no Resume", each)
	}
	if whole := row("smarthost:whole"); !strings.Contains(whole, `data-op="resume"`) || strings.Contains(whole, "message by message") {
		t.Errorf("queue suspended as a queue:\n%s\nwant its Resume", whole)
	}
}
