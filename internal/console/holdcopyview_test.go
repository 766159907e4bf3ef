package console

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// rt20f F4 / rt21a L2: the console's message page says what the hold
// did to a held message's shadow copy (discarded; made again when the
// hold goes), names the copy of a message that has one, and shows a
// shadow copy's recipient in shadow:PRIMARY, as message list and show do.
func TestConsoleMessageSaysWhereItsCopyIs(t *testing.T) {
	h := newHarness(t)
	h.login("ops", "s3cret-pass")
	h.q.extra = &queue.Message{ID: 13, State: queue.Suspended, From: "a@example.org", ShadowServer: "hub-c", ShadowID: "c-13",
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Queue: "mx:example.net"}}}
	_, page := h.do("GET", "/messages/"+queue.ID(13).String(), nil, nil)
	if want := `<dd id="single-copy">held by this server only: its shadow copy on hub-c was discarded when the message was held; made again when it goes</dd>`; !strings.Contains(page, want) {
		t.Errorf("held message's page lacks %s", want)
	}
	if strings.Contains(page, `id="shadow-copy"`) {
		t.Error("held message's page names a shadow copy the hold discarded")
	}
	h.q.extra = &queue.Message{ID: 14, State: queue.Ready, From: "a@example.org", ShadowServer: "hub-c", ShadowID: "c-14",
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Queue: "mx:example.net"}}}
	if _, page = h.do("GET", "/messages/"+queue.ID(14).String(), nil, nil); !strings.Contains(page, `<dd id="shadow-copy">hub-c</dd>`) {
		t.Error("the page of a message with a shadow copy does not name it")
	}
	h.q.extra = &queue.Message{ID: 15, State: queue.Shadow, From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Shadowed, Primary: "hub-a", ShadowID: "a-15"}}}
	if _, page = h.do("GET", "/messages/"+queue.ID(15).String(), nil, nil); !strings.Contains(page, "<td>shadow:hub-a</td>") {
		t.Error("the page of a shadow copy does not show its recipient in shadow:hub-a")
	}
}
