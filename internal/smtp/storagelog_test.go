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
// once when a message is stored again after a minute without a refusal (rt16c minor: every refusal wrote
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
	// The episode ends once storing has held for a minute (lifert43 F2).
	send("250")
	clk.Advance(time.Minute)
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

// lifert43 F2: on a disk full to the last page, deliveries free pages
// inside queue.db, a message fits in one now and then, and each such
// message ended the episode: the next refusal wrote a fresh ERROR line
// (28 ERROR and 28 "stored again" lines in 1.3 s). An episode ends only
// once storing has held for storageLogInterval (no refusal for a
// minute): however refusals and stored messages alternate, the log gets
// at most one ERROR line a minute, and "messages are stored again" once,
// when the episode really ended.
func TestFullDiskFlappingLogsOneErrorAMinute(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	q := &fakeQueue{}
	s := newLoggedServer(t, q, clk, logs)
	send := func(full bool) {
		t.Helper()
		want := "250"
		q.mu.Lock()
		q.failWith = nil
		if full {
			q.failWith, want = errDiskFull, "452 4.3.1"
		}
		q.mu.Unlock()
		d := dial(t, s, "")
		d.expect("220")
		d.openData()
		d.cmd("Subject: x\r\n\r\nhi\r\n.", want)
		d.cmd("QUIT", "221")
		d.closed()
	}
	for i := 0; i < 14; i++ {
		send(true)
		send(false)
	}
	if got := logs.lines("enqueue failed"); len(got) != 1 {
		t.Fatalf("14 refusals each followed by a stored message, within a second: %d ERROR lines, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
	if got := logs.lines("messages are stored again"); len(got) != 0 {
		t.Fatalf("stored messages between refusals ended the episode: %q", got)
	}
	// Still flapping 59 s after the last refusal logged: nothing more.
	clk.Advance(59 * time.Second)
	send(false)
	send(true)
	if got := logs.lines("enqueue failed"); len(got) != 1 {
		t.Fatalf("a refusal 59 s after the first: %d ERROR lines, want 1", len(got))
	}
	// A minute after the last ERROR line, a refusal: the next line, with
	// the count left out.
	clk.Advance(time.Second)
	send(false)
	send(true)
	got := logs.lines("enqueue failed")
	if len(got) != 2 || !strings.Contains(got[1], "suppressed=14") {
		t.Fatalf("a minute on: %d ERROR lines, want a second with suppressed=14:\n%s", len(got), strings.Join(got, "\n"))
	}
	if got := logs.lines("messages are stored again"); len(got) != 0 {
		t.Fatalf("the episode ended while refusals went on: %q", got)
	}
	// Storing holds for a minute (no refusal): the first message stored
	// then ends the episode, once.
	clk.Advance(30 * time.Second)
	send(false)
	if got := logs.lines("messages are stored again"); len(got) != 0 {
		t.Fatalf("the episode ended 30 s after a refusal: %q", got)
	}
	clk.Advance(30 * time.Second)
	send(false)
	send(false)
	if got := logs.lines("messages are stored again"); len(got) != 1 || !strings.Contains(got[0], "refused=16") {
		t.Fatalf("a minute without a refusal: %q, want one line with refused=16", got)
	}
	// A new episode is logged at once.
	send(true)
	if got := logs.lines("enqueue failed"); len(got) != 3 {
		t.Fatalf("a new episode: %d ERROR lines, want its first logged at once", len(got))
	}
}

// A full-disk episode whose refusals stopped with a message stored
// within the minute, then no traffic: storing works again, so the next
// refusal, an hour on, is a new episode — the first one's "messages are
// stored again" written then, the new ERROR line with no count of the
// old one's — and a shutdown meanwhile does not warn that messages are
// still refused (lifert43's minute: the episode was left open, and both
// lines said the disk was still full an hour after it was not).
func TestFullDiskEpisodeEndsWhenStoringHeldThoughNoMessageCame(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	q := &fakeQueue{}
	s := newLoggedServer(t, q, clk, logs)
	send := func(full bool) {
		t.Helper()
		want := "250"
		q.mu.Lock()
		q.failWith = nil
		if full {
			q.failWith, want = errDiskFull, "452 4.3.1"
		}
		q.mu.Unlock()
		d := dial(t, s, "")
		d.expect("220")
		d.openData()
		d.cmd("Subject: x\r\n\r\nhi\r\n.", want)
		d.cmd("QUIT", "221")
		d.closed()
	}
	for i := 0; i < 3; i++ {
		send(true)
	}
	clk.Advance(10 * time.Second)
	send(false) // storing works again; no message comes for an hour
	clk.Advance(time.Hour)
	send(true)
	if got := logs.lines("messages are stored again"); len(got) != 1 || !strings.Contains(got[0], "refused=3") {
		t.Fatalf("a refusal an hour after storing worked again: %q, want the first episode's end with refused=3", got)
	}
	got := logs.lines("enqueue failed")
	if len(got) != 2 || strings.Contains(got[1], "suppressed=") {
		t.Fatalf("the new episode's first refusal: %d ERROR lines, want a second with no count of the first episode:\n%s", len(got), strings.Join(got, "\n"))
	}
	// The second episode: refusals, a message stored 10 s on, then a
	// shutdown an hour later.
	send(true)
	clk.Advance(10 * time.Second)
	send(false)
	clk.Advance(time.Hour)
	s.storage.flush() // as a shutdown now
	if got := logs.lines("still refused"); len(got) != 0 {
		t.Fatalf("a shutdown an hour after the last refusal, a message stored since: %q", got)
	}
	if got := logs.lines("messages are stored again"); len(got) != 2 || !strings.Contains(got[1], "refused=2") {
		t.Fatalf("the shutdown: %q, want the second episode's end with refused=2", got)
	}
}
