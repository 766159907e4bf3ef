package smtp

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// On a full disk every message is refused 452 4.3.1 (SMTP- temporary
// refusal, never a loss), but the log is written once per episode, then
// at most once a minute with the count of the refusals not logged, and
// once when a message is stored again (rt16c minor: every refusal wrote
// its own ERROR line, ~1 MB in 3 s from two clients).
func TestFullDiskRefusalsLoggedOncePerEpisode(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	q := &fakeQueue{failWith: errDiskFull}
	s := newLoggedServer(t, q, clk, logs)
	send := func(want string) {
		t.Helper()
		d := dial(t, s, "")
		d.expect("220")
		d.openData()
		d.cmd("Subject: x\r\n\r\nhi\r\n.", want)
		d.cmd("QUIT", "221")
		d.closed() // its slot free: 24 sessions one after another, 2 per source
	}
	for i := 0; i < 20; i++ {
		send("452 4.3.1")
	}
	if got := logs.lines("enqueue failed"); len(got) != 1 || !strings.Contains(got[0], "no space left on device") {
		t.Fatalf("20 refusals on a full disk logged %d lines, want 1 naming the cause:\n%s", len(got), strings.Join(got, "\n"))
	}
	clk.Advance(time.Minute)
	send("452 4.3.1")
	got := logs.lines("enqueue failed")
	if len(got) != 2 || !strings.Contains(got[1], "suppressed=19") {
		t.Fatalf("a minute later: %d lines, want a second with suppressed=19:\n%s", len(got), strings.Join(got, "\n"))
	}
	q.mu.Lock()
	q.failWith = nil
	q.mu.Unlock()
	send("250")
	send("250")
	if got := logs.lines("messages are stored again"); len(got) != 1 || !strings.Contains(got[0], "refused=21") {
		t.Fatalf("the end of the episode: %q, want one line with refused=21", got)
	}
	// A second episode is logged at once again.
	q.mu.Lock()
	q.failWith = errDiskFull
	q.mu.Unlock()
	send("452 4.3.1")
	if got := logs.lines("enqueue failed"); len(got) != 3 {
		t.Fatalf("a new episode: %d lines, want its first logged at once", len(got))
	}
}

// newLoggedServer runs a Server of the anon connector on clk, logging
// to logs.
func newLoggedServer(t *testing.T, q Queue, clk clock.Clock, logs *syncBuffer) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: connectors(t, anon), Routing: testTable(), Queue: q,
		Log: slog.New(slog.NewTextHandler(logs, nil)), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}
