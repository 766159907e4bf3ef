package smtp

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
)

// verbs40 F1 (SR-3, rt17e-F1; README "A FROM= naming a database the
// holder knows as another server's ... with a warning in the holder's
// log"): a session that presented no database id at XSHADOW (XSHADOW
// hub2, no DB=) was answered "0 finished here" before FROM= was looked
// at, so a FROM= naming another server's live database id left no
// warning. The warning is unconditional — a session with or without a
// database id of its own — and paced per server as the refusals for
// another server's database id are (anotherDatabaseLogEvery).
func TestSR3QueryTakenDoneFromAnotherServersDatabaseAlwaysWarned(t *testing.T) {
	const ownDB, hub3DB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	held := &heldNoteShadow{takenDoneShadow: &takenDoneShadow{pushShadow: &pushShadow{droppedShadow: &droppedShadow{handBackShadow: &handBackShadow{partialShadow: newPartialShadow(),
		given: map[string][]string{}}, dropped: map[string][]string{}}},
		notes: map[string][]queue.TakenDone{hub3DB: {{ID: "a-1", Addr: "x@remote.example", Kind: queue.TakenDelivered}}}}}
	busy := &busyShadow{delayNoteShadow: &delayNoteShadow{heldNoteShadow: held, delayed: map[string][]string{}}, busy: map[string][]string{hub3DB: {"c-3"}}}
	sh := &handedShadow{takenOverShadow: &takenOverShadow{busyShadow: busy, waiting: map[string][]queue.TakenDone{hub3DB: {{ID: "d-4", Addr: "w@remote.example", Kind: queue.TakenOver}}}},
		handed: map[string][]queue.TakenDone{hub3DB: {{ID: "b-2", Addr: "y@remote.example", Kind: queue.TakenOver}}}}
	q := &ownersQueue{markQueue: markQueue{mark: 1}, owners: map[string]string{hub3DB: "hub3"}}
	logs := &syncBuffer{}
	clk := clock.NewFake(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: verbs40Connector(t), Routing: testTable(), Queue: q,
		Shadow: sh, ShadowEnabled: true, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	warns := func() []string { return logs.lines("XQUERYTAKENDONE FROM= names another server") }
	ask := func(xshadow string) {
		t.Helper()
		d := dial(t, s, "127.0.0.128")
		d.expect("220")
		d.cmd("EHLO hub2.test", "250")
		d.cmd(authHub2, "235")
		d.cmd(xshadow, "250")
		got := d.cmd("XQUERYTAKENDONE 100 HELD BUSY FROM="+hub3DB, "250")
		for _, w := range []string{"a-1", "b-2", "c-3", "d-4"} {
			if strings.Contains(got, w) {
				t.Fatalf("hub2 heard %s of hub3's database:\n%s", w, got)
			}
		}
		d.cmd("QUIT", "221")
	}

	ask("XSHADOW hub2") // no database id of its own
	w := warns()
	if len(w) != 1 || !strings.Contains(w[0], "level=WARN") || !strings.Contains(w[0], "database_id="+hub3DB) || !strings.Contains(w[0], "known_as=hub3") {
		t.Fatalf("FROM= of hub3's database in a session without DB=: log %q, want one WARN naming the id and hub3", w)
	}
	ask("XSHADOW hub2 MARK DB=" + ownDB) // within the interval: not WARNed again
	if w := warns(); len(w) != 2 || strings.Contains(w[1], "level=WARN") {
		t.Fatalf("a second FROM= within %v: log %q, want it below WARN", anotherDatabaseLogEvery, w)
	}
	clk.Advance(anotherDatabaseLogEvery + time.Second)
	ask("XSHADOW hub2")
	w = warns()
	if len(w) != 3 || !strings.Contains(w[2], "level=WARN") || !strings.Contains(w[2], "since_last_warning=1") {
		t.Fatalf("after the interval: log %q, want a WARN with the one not WARNed", w)
	}
	if len(held.notes[hub3DB]) != 1 {
		t.Fatalf("hub3's notes after hub2's questions: %+v, want kept", held.notes[hub3DB])
	}
}
