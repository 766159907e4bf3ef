package shadow

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"umbra/internal/clock"
)

// fullStore is a store whose commit of a failed heartbeat fails for want
// of room while full is set (a full data_dir: the takeover's commit).
type fullStore struct {
	*fakeStore
	full bool
}

func (f *fullStore) HeartbeatFailed(name string, started time.Time, timeout time.Duration, retries int, reason string) (int, int, error) {
	f.mu.Lock()
	full := f.full
	f.mu.Unlock()
	if full {
		return 0, 0, fmt.Errorf("write /data/queue.db: %w", syscall.ENOSPC)
	}
	return f.fakeStore.HeartbeatFailed(name, started, timeout, retries, reason)
}

// SR-6, OPS- (rt42 F3): a failed heartbeat whose record cannot be
// committed (a full disk) logged "recording a failed heartbeat failed"
// at every heartbeat — twice a second on a holder with a short timeout —
// and shadow list said "takeover due (<a time already past>)" while the
// takeover could not commit. The line follows the full-disk rule (one
// ERROR per episode, then at most one a minute with suppressed=N), the
// view says the takeover waits for room, and once the record goes
// through the episode ends and the takeover comes.
func TestSR6FailedHeartbeatOnFullDiskLoggedOncePerEpisode(t *testing.T) {
	m, st, hb, clk := setup()
	fs := &fullStore{fakeStore: st, full: true}
	m.cfg.Store = fs
	buf := &syncBuf{}
	m.cfg.Log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m.SetTiming(Timing{Timeout: time.Second, Retries: 3, CommandTimeout: time.Second})
	hb.mu.Lock()
	hb.err = fmt.Errorf("dial tcp 127.0.0.2:25: connect: connection refused")
	hb.mu.Unlock()
	st.mu.Lock()
	st.ps["hub-b"].Failures = 3 // the takeover is due at the next failure
	st.mu.Unlock()
	step(t, m, hb, clk, 30*time.Second)
	if hb.n("hub-b") < 5 {
		t.Fatalf("%d heartbeats in 30 s at a 1 s timeout: the test made too few to tell", hb.n("hub-b"))
	}
	if n := buf.count("recording a failed heartbeat failed"); n != 1 {
		t.Fatalf("%d ERROR lines for %d heartbeats whose record failed on a full disk in 30 s, want 1:\n%s", n, hb.n("hub-b"), buf.b.String())
	}
	var waiting string
	for _, s := range m.Status() {
		if s.Name == "hub-b" {
			waiting = s.TakeoverWaiting
		}
	}
	if waiting != "no space left in data_dir" {
		t.Fatalf("status says the takeover waits for %q, want %q", waiting, "no space left in data_dir")
	}
	clk.Advance(time.Minute)
	step(t, m, hb, clk, time.Second)
	if n := buf.count("recording a failed heartbeat failed"); n != 2 || !strings.Contains(buf.b.String(), "suppressed=") {
		t.Fatalf("after a minute: %d lines, want 2, the second with suppressed=N:\n%s", n, buf.b.String())
	}

	// Room again: recorded, the episode ends, the copies are taken over.
	fs.mu.Lock()
	fs.full = false
	fs.mu.Unlock()
	step(t, m, hb, clk, 3*time.Second)
	if n := buf.count("failed heartbeats are recorded again"); n != 1 {
		t.Fatalf("%d lines saying the records go through again, want 1:\n%s", n, buf.b.String())
	}
	if len(st.taken()) == 0 {
		t.Fatalf("no takeover once the failed heartbeat could be recorded:\n%s", buf.b.String())
	}
	for _, s := range m.Status() {
		if s.Name == "hub-b" && s.TakeoverWaiting != "" {
			t.Fatalf("status still says the takeover waits: %q", s.TakeoverWaiting)
		}
	}
}

// fullLostStore is a lostStore whose record of a holder taken as lost
// fails for want of room.
type fullLostStore struct{ lostStore }

func (s *fullLostStore) HolderUnreachable(server string, since time.Time) (int, error) {
	return 0, fmt.Errorf("write /data/queue.db: %w", syscall.ENOSPC)
}

// SR-6, OPS- (rt42 F3, sibling): the holders' pass comes every heartbeat
// timeout (a second at the shortest); a holder taken as lost whose mark
// could not be committed (a full disk) was tried — and logged at ERROR —
// at every pass. Paced as the pass's other failures: one line a minute,
// the next saying how many were left out.
func TestSR6HolderLostRecordFailureLoggedOncePerMinute(t *testing.T) {
	clk := clock.NewFake(t0)
	st := &fullLostStore{lostStore{fakeHolderStore: fakeHolderStore{holders: map[string]int{"hub-b": 2}}, lost: map[string]time.Time{}}}
	cp := &silentCopier{down: map[string]bool{"hub-b": true}}
	buf := &syncBuf{}
	h := NewHolders(HoldersConfig{Store: st, Copier: cp, Clock: clk, Interval: time.Second,
		Log:       slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn})),
		LostAfter: func() time.Duration { return 3 * time.Second }})
	for range 30 {
		h.Pass(context.Background())
		clk.Advance(time.Second)
	}
	if n := buf.count("taking the copies on an unreachable shadow server as lost failed"); n != 1 {
		t.Fatalf("%d ERROR lines in 30 passes of one full disk, want 1:\n%s", n, buf.b.String())
	}
	clk.Advance(time.Minute)
	h.Pass(context.Background())
	if n := buf.count("taking the copies on an unreachable shadow server as lost failed"); n != 2 || !strings.Contains(buf.b.String(), "suppressed=") {
		t.Fatalf("after a minute: %d lines, want 2, the second with suppressed=N:\n%s", n, buf.b.String())
	}
}

// SR-6, OPS- (poison45 item 2's sibling): a flapping disk — the record
// of a failed heartbeat failing, the next one's going through, the next
// failing again — logged one ERROR per heartbeat: the record that went
// through ended the episode (recordedAgain made the pacing new), so
// every failure after it was logged at once. The episode now ends only
// after a quiet period (panicline.Interval with no line); each record
// that goes through after a failure keeps its INFO line.
func TestSR6FlappingDiskFailedHeartbeatRecordPacedAcrossRounds(t *testing.T) {
	m, st, hb, clk := setup()
	fs := &fullStore{fakeStore: st}
	m.cfg.Store = fs
	buf := &syncBuf{}
	m.cfg.Log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m.SetTiming(Timing{Timeout: time.Second, Retries: 1000, CommandTimeout: time.Second})
	hb.mu.Lock()
	hb.err = fmt.Errorf("dial tcp 127.0.0.2:25: connect: connection refused")
	hb.mu.Unlock()
	for i := range 20 {
		fs.mu.Lock()
		fs.full = i%2 == 0
		fs.mu.Unlock()
		step(t, m, hb, clk, time.Second)
	}
	if n := buf.count("failed heartbeats are recorded again"); n < 3 {
		t.Fatalf("%d records went through again in 20 s of a flapping disk: the test made too few to tell:\n%s", n, buf.b.String())
	}
	if n := buf.count("recording a failed heartbeat failed"); n != 1 {
		t.Fatalf("%d ERROR lines in 20 s of a disk failing every other heartbeat, want 1:\n%s", n, buf.b.String())
	}
	clk.Advance(time.Minute) // quiet: the next failure is a new episode
	fs.mu.Lock()
	fs.full = true
	fs.mu.Unlock()
	step(t, m, hb, clk, time.Second)
	if n := buf.count("recording a failed heartbeat failed"); n != 2 || !strings.Contains(buf.b.String(), "suppressed=") {
		t.Fatalf("after a quiet minute: %d lines, want 2, the second with suppressed=N:\n%s", n, buf.b.String())
	}
}
