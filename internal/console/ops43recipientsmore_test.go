package console

import (
	"fmt"
	"strings"
	"testing"

	"umbra/internal/admin"
	"umbra/internal/queue"
)

// OPS-43 item 1: the message page of a message of many recipients lists
// the first admin.RecipientsShown of them (the admin API's answer) and
// says how many more it has, never cutting the list silently.
func TestOPS43MessagePageSaysHowManyMore(t *testing.T) {
	h := newHarness(t)
	m := &queue.Message{ID: 9, State: queue.Ready, From: "a@example.org"}
	const n = 1000
	for i := range n {
		m.Rcpts = append(m.Rcpts, queue.Recipient{Addr: fmt.Sprintf("r%d@example.net", i), Status: queue.Pending})
	}
	h.q.extra = m
	h.login("ops", "s3cret-pass")
	_, page := h.do("GET", "/messages/"+queue.ID(9).String(), nil, nil)
	if got := strings.Count(page, "@example.net</td>"); got != admin.RecipientsShown {
		t.Errorf("message page lists %d recipients, want %d", got, admin.RecipientsShown)
	}
	if want := fmt.Sprintf("and %d more recipients", n-admin.RecipientsShown); !strings.Contains(page, want) {
		t.Errorf("message page lacks %q", want)
	}
}
