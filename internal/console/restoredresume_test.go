package console

import (
	"net/url"
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt47 F2, the console's side: a message a restore holds (restored
// suspended: the database the restore replaced no longer held it to
// deliver) was resumed with "done" and no word that it may have gone
// already, and the queues page counted it held by message suspend.
func TestConsoleResumeOfRestoredSuspendedWarns(t *testing.T) {
	h := newHarness(t)
	h.q.extra = &queue.Message{ID: 13, State: queue.Suspended, From: "a@example.org", LastError: queue.RestoredSuspendedHold,
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	h.q.queues = []queue.QueueInfo{{Name: "smarthost:restored", DeliveryType: "smtp", Status: "suspended", Count: 2,
		ByState: map[string]int{"suspended": 2}, RestoredSuspended: 1}}
	_, csrf := h.login("ops", "s3cret-pass")
	res, _ := h.do("POST", "/action", url.Values{"csrf": {csrf}, "kind": {"message"}, "op": {"resume"}, "target": {queue.ID(13).String()},
		"back": {"/"}}, h.origin())
	if res.StatusCode != 303 {
		t.Fatalf("resume: %d", res.StatusCode)
	}
	_, page := h.do("GET", "/", nil, nil)
	if !strings.Contains(page, "may reach a recipient a second time") {
		t.Errorf("the resume of a message restored suspended says nothing of its having maybe gone already:\n%s", page)
	}
	if !strings.Contains(page, "1 message held one by one (message suspend) and 1 message restored suspended by db restore") {
		t.Errorf("queues page: the restore's hold is not told apart from the operator's:\n%s", page)
	}
}
