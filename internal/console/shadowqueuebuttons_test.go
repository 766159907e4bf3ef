package console

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// A shadow queue whose copies are all held for their primary (status
// shadow) offers no Retry now nor Redirect: the admin API refuses both
// there (queue.Manager.CheckShadowQueueAction), as it refuses the
// suspension the page already leaves out. Once a copy is taken over
// (status ready, retry or active) they act on it and are offered.
func TestConsoleShadowQueueOfHeldCopiesOffersNoAction(t *testing.T) {
	h := newHarness(t)
	h.q.queues = []queue.QueueInfo{
		{Name: "shadow:hub-a", DeliveryType: "shadow", Status: "shadow", Count: 1, ByState: map[string]int{"shadow": 1}},
		{Name: "shadow:hub-c", DeliveryType: "shadow", Status: "ready", Count: 2, ByState: map[string]int{"shadow": 1, "ready": 1}},
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
	for _, op := range []string{"retry", "resume", "redirect", "suspend"} {
		if held := row("shadow:hub-a"); strings.Contains(held, `data-op="`+op+`"`) {
			t.Errorf("shadow queue of copies none taken over offers %s, which the admin API refuses:\n%s", op, held)
		}
	}
	taken := row("shadow:hub-c")
	for _, op := range []string{"retry", "redirect"} {
		if !strings.Contains(taken, `data-op="`+op+`"`) {
			t.Errorf("shadow queue with a copy taken over lacks %s:\n%s", op, taken)
		}
	}
}
