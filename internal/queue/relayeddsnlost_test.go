package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// ops49 F1 (b): a DSN another server of the organisation made (the null
// sender, received over SMTP) that fails here — at the hop limit of a
// loop, or refused — has nobody to go to either: the original's sender
// is never told. Before, only a DSN this server made counted
// bounce-lost; a relayed one failed with an INFO line and nothing else.
// Every failure of a null-sender message is the bounce-lost event and an
// ERROR.
func TestRelayedDSNFailureIsBounceLost(t *testing.T) {
	s := openTest(t)
	ev := &rcptEvents{}
	logs := &lockedBuf{}
	d := newScripted(func(addr string, n int) (Outcome, string) {
		return FailedPerm, "554 5.4.6 too many hops: 60 Received: headers and the next hop's, max_hop_count 60 (mail loop)"
	})
	q := NewManager(s, d, ManagerConfig{Hostname: "mx.test", Events: ev, Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "", "sender@example.org") // relayed from another hub: connector "test", a client address
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bounce-lost event", func() bool { return ev.count("bounce-lost sender@example.org") > 0 })
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "bounce lost") {
		t.Errorf("no ERROR saying the bounce is lost:\n%s", got)
	}
}
