package smtp

import (
	"strings"
	"sync"
	"testing"

	"umbra/internal/queue"
)

// recordingQueue is a fakeQueue that takes discard events.
type recordingQueue struct {
	*fakeQueue
	mu     sync.Mutex
	events []string
}

func (q *recordingQueue) RecordDiscard(m *queue.Message, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var rc []string
	for _, r := range m.Rcpts {
		rc = append(rc, r.Addr)
	}
	q.events = append(q.events, m.ID.String()+" "+m.From+" "+strings.Join(rc, ",")+" "+m.MessageID+": "+why)
}

// EDGE: a message a check discards was answered "queued as ID": the
// tracking log has that ID, with the check's name.
func TestDiscardTracked(t *testing.T) {
	ck := &scripted{data: Verdict{Discard: true}}
	q := &recordingQueue{fakeQueue: &fakeQueue{}}
	s := startWithChecks(t, q, ck)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO client.test", "250")
	send := func() string {
		d.cmd("MAIL FROM:<a@sender.test>", "250")
		d.cmd("RCPT TO:<u@example.test>", "250")
		d.cmd("DATA", "354")
		reply := d.cmd("Message-ID: <m1@sender.test>\r\nSubject: y\r\n\r\nhello\r\n.", "250")
		_, id, _ := strings.Cut(strings.TrimSpace(reply), "queued as ")
		return id
	}
	id1 := send()
	ck.data = Verdict{}
	ck.edit = func(t *Transaction) { t.Rcpts = nil }
	id2 := send()
	if q.count() != 0 {
		t.Fatalf("queued %d", q.count())
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	want := []string{
		id1 + " a@sender.test u@example.test <m1@sender.test>: discarded by check scripted",
		id2 + " a@sender.test u@example.test <m1@sender.test>: every recipient removed by the checks",
	}
	if id1 == "" || id2 == "" || strings.Join(q.events, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(q.events, "\n"), strings.Join(want, "\n"))
	}
}
