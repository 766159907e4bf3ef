package pickup

import (
	"strings"
	"testing"

	"umbra/internal/queue"
)

// The trace field's "by" is a Domain (RFC 5321 §4.4): a server.name
// written absolute ("hub.test.") appears without its final dot.
func TestPickupTraceByWithoutFinalDot(t *testing.T) {
	q := &fakeQueue{handed: map[queue.ID]chan struct{}{}}
	w := New(Config{Dir: t.TempDir(), Hostname: "hub.test.", Queue: q})
	_, _, msg := w.prepare("a.eml", Envelope{From: "a@example.test", Rcpts: []string{"b@example.test"}}, []byte("Subject: x\r\n\r\nhi\r\n"))
	if !strings.HasPrefix(string(msg), "Received: from pickup directory\r\n\tby hub.test (umbra) with local id ") {
		t.Fatalf("trace field: %.120q", msg)
	}
}
