package queue

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rt21a M1: an operator suspends a copy this server took over from
// hub-b; hub-b answers again with the database the copy was taken over
// from, and the give-back hands the message back — hub-b, which still
// holds the original, delivers it. Until a hold can travel to the
// primary, the give-back of a held copy is no silent undoing of the
// operator's hold: it is logged at WARN with the message and the primary
// that delivers it.
func TestGiveBackOfHeldCopyWarns(t *testing.T) {
	var logs lockedBuffer
	r := newTakebackRigLog(t, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	m := r.submit(t, "x@b.example")
	r.failHeartbeats(t)
	waitFor(t, "the taken-over copy's attempt", func() bool {
		got, _ := r.q.Message(m.ID)
		return got != nil && got.State == Ready && got.Attempts == 1
	})
	if err := r.q.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.q.SuspendMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	res, err := r.q.ShadowContact("hub-b", "db1", nil)
	if err != nil || res.GivenBack != 1 {
		t.Fatalf("contact: %+v %v; want the copy given back", res, err)
	}
	var warn string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "held by the administrator") {
			warn = l
		}
	}
	if warn == "" || !strings.Contains(warn, "msg_id="+m.ID.String()) || !strings.Contains(warn, "primary=hub-b") {
		t.Fatalf("no WARN naming the held message given back to hub-b:\n%s", logs.String())
	}
}
