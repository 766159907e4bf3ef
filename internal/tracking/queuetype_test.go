package tracking

import (
	"path/filepath"
	"testing"

	"umbra/internal/queue"
)

// A message moved to the poison queue is tracked with that queue, as a
// delivery event is with its recipient's: `umbra track` shows where it
// went, and the line agrees with the metric's queue_type label. A
// repeat is written per recipient (internal/queue), with its queue.
func TestPoisonAndRepeatLinesNameTheirQueue(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "tracking.log"), 1<<20, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := &queue.Message{ID: 4, From: "s@example.org", State: queue.Poison,
		Rcpts: []queue.Recipient{{Addr: "r@example.net", Queue: "smarthost:out", NextHop: "out"}}}
	if e := l.entry("poison", m, nil, "in flight during 2 crashes while umbra processed it"); e.Queue != queue.QueuePoison {
		t.Errorf("poison line's queue %q, want %q", e.Queue, queue.QueuePoison)
	}
	if e := l.entry("repeat", m, &m.Rcpts[0], "attempted again"); e.Queue != "smarthost:out" || e.NextHop != "out" {
		t.Errorf("repeat line's queue %q next hop %q", e.Queue, e.NextHop)
	}
	if e := l.entry("receive", m, nil, ""); e.Queue != "" {
		t.Errorf("receive line's queue %q, want none", e.Queue)
	}
}
