package queue

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SPEC Q-5: an attempt's end that panics at every attempt crashes the
// daemon each time; the restarts' Recover counts each crash, and at
// PoisonThreshold (2) the message goes to the poison queue — no crash
// loop (README, "A panic on one of the queue manager's own goroutines").
func TestQ5AttemptEndPanicLoopPoisons(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{20 * time.Millisecond}})
		f := func(part string) {
			if part == PanicAttempt {
				panic("injected panic of every attempt's end")
			}
		}
		q.panics.hook.Store(&f)
		ctx := context.Background()
		if _, _, err := q.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		q.Start(ctx)
		if os.Getenv("UMBRA_TEST_SUBMIT") != "" {
			if err := q.Submit(ctx, msg(s, "a@example.org", "x@one.test"), []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		noCrash(t)
		return
	}
	path := filepath.Join(t.TempDir(), "queue.db")
	run := func(submit bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		if submit {
			cmd.Env = append(cmd.Env, "UMBRA_TEST_SUBMIT=1")
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(out.String(), "queue part attempt: umbra crashes on purpose") {
			t.Fatalf("status %d, want the crash:\n%s", code, out.String())
		}
	}
	run(true)
	run(false) // the restart: Recover counts the first crash, the attempt crashes again
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8})
	if _, _, err := q.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := messages(t, s)
	for _, m := range ms {
		t.Logf("%s state=%v crashes=%d", m.ID, m.State, m.CrashCount)
	}
	if len(ms) != 1 || ms[0].State != Poison {
		for _, m := range ms {
			t.Logf("%s state=%v crashes=%d", m.ID, m.State, m.CrashCount)
		}
		t.Fatalf("after two crashes of its end: want the message in the poison queue")
	}
}
