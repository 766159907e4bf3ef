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

// crashChildEnv names, in the subprocess a crash test runs, the store
// it works on.
const crashChildEnv = "UMBRA_QUEUE_CRASH_CHILD"

// crashChild returns, when this process is the subprocess of a crash
// test, the store at the path the test gave it.
func crashChild(t *testing.T) (*Store, bool) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		return nil, false
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

// noCrash ends a subprocess whose panic did not crash it: it waits a
// bounded time for the crash, then fails (exit 1, not 2).
func noCrash(t *testing.T) {
	time.Sleep(10 * time.Second)
	t.Fatal("no crash: the panic was recovered and the daemon left as it was")
}

// crashes runs t's own test in a subprocess (its crashChild part), which
// must end by the queue's deliberate crash of part (exit status 2, its
// line on stderr); then it opens the subprocess's store as the restart
// does and returns it.
func crashes(t *testing.T, part string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	want := "queue part " + part + ": umbra crashes on purpose"
	if code != 2 || !strings.Contains(out.String(), want) {
		t.Fatalf("the subprocess ended with status %d, want 2 and %q:\n%s", code, want, out.String())
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// restarted recovers s as a restart does and runs a manager on it until
// every message in it is delivered and removed; it returns the
// deliveries made after the restart.
func restarted(t *testing.T, s *Store) int {
	t.Helper()
	p := newPlanned()
	q := NewManager(s, p, ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{20 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	if _, _, err := q.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	q.Start(ctx)
	waitFor(t, "every message delivered after the restart", func() bool { return len(messages(t, s)) == 0 })
	return p.count(p.done, "one.test")
}

// pumpGated relays every recipient once gate is closed.
type pumpGated struct {
	*planned
	gate chan struct{}
}

func (g *pumpGated) Deliver(ctx context.Context, m *Message, body []byte, rcpts []int) []Result {
	<-g.gate
	return g.planned.Deliver(ctx, m, body, rcpts)
}

// jobEndPumpPanics: three messages for one destination, the first jobs
// stalled; once some wait for a window, a job's end frees a slot and
// jobDone's pump starts a waiting one — where the injected panic fires
// (startHook: inside pump's section under the scheduler's lock; unlock
// first: a panic of pump outside it).
func jobEndPumpPanics(t *testing.T, s *Store, unlock bool) {
	p := &pumpGated{planned: newPlanned(), gate: make(chan struct{})}
	q := NewManager(s, p, ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{time.Hour}})
	ctx := context.Background()
	q.Start(ctx)
	for _, r := range []string{"x@one.test", "y@one.test", "z@one.test"} {
		if err := q.Submit(ctx, msg(s, "a@example.org", r), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "jobs running and one waiting", func() bool {
		q.sched.mu.Lock()
		defer q.sched.mu.Unlock()
		d := q.sched.dests["mx/one.test"]
		return d != nil && d.busy >= 1 && len(d.waiting) >= 1
	})
	fired := false
	f := func(jb *job, d *dest) {
		if !fired {
			fired = true
			if unlock {
				q.sched.mu.Unlock()
			}
			panic("injected panic in pump at a job's end")
		}
	}
	q.sched.startHook.Store(&f)
	close(p.gate) // the held jobs end (relayed)
	noCrash(t)
}

// SPEC: a panic in pump under the scheduler's lock at a job's
// end crashes the daemon on purpose: recovered (as it was), it left the
// lock held — every job's start and end, SuspendQueue and the loop
// blocked for good, the messages Active, the stop hung. After the
// restart every message is delivered. Seen to fail first: states
// [active active active], the manager never stopped.
func TestQ5PanicUnderSchedLockCrashes(t *testing.T) {
	if s, ok := crashChild(t); ok {
		jobEndPumpPanics(t, s, false)
		return
	}
	restarted(t, crashes(t, PanicJob))
}

// SPEC: a panic in jobDone's pump outside the lock crashes
// too: recovered as the job's (it had called done), the job's report
// never ran — the attempt never ended, the message stayed Active with
// its slot, the job pump had taken out of waiting was lost, the stop
// hung.
func TestQ5PanicInJobDonePumpCrashes(t *testing.T) {
	if s, ok := crashChild(t); ok {
		jobEndPumpPanics(t, s, true)
		return
	}
	restarted(t, crashes(t, PanicJob))
}

// SPEC: an attempt's end that panics with the attempt's lock
// held crashes: recovered, complete's deferred leave() blocked on that
// lock — its claims, its slot of the active set and the stop's wait
// never released.
func TestQ5AttemptEndPanicWithAttemptLockHeldCrashes(t *testing.T) {
	if s, ok := crashChild(t); ok {
		q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{20 * time.Millisecond}})
		var m1 *Message
		fired := false
		f := func(part string) {
			if part == PanicAttempt && !fired {
				fired = true
				v, _ := q.inDelivery.Load(m1.ID)
				v.(*attempt).mu.Lock() // as an unlock not deferred in complete would leave it
				panic("injected panic of the attempt's end with a.mu held")
			}
		}
		q.panics.hook.Store(&f)
		ctx := context.Background()
		q.Start(ctx)
		m1 = msg(s, "a@example.org", "x@one.test")
		if err := q.Submit(ctx, m1, []byte(body)); err != nil {
			t.Fatal(err)
		}
		noCrash(t)
		return
	}
	restarted(t, crashes(t, PanicAttempt))
}

// SPEC: an attempt's end that panics after its ending
// commit crashes: recovered, it stranded the message as crashed
// whatever that commit had made of it — Ready and claimed again by
// then, the stranded retry set the new attempt's message Ready again
// (CrashCount+1) and a second attempt ran beside the first. After the
// restart the message the commit removed is not delivered again.
func TestQ5AttemptEndPanicAfterCommitCrashes(t *testing.T) {
	if s, ok := crashChild(t); ok {
		q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{20 * time.Millisecond}})
		f := func(part string) {
			if part == panicEnded {
				panic("injected panic of the attempt's end after its commit")
			}
		}
		q.panics.hook.Store(&f)
		ctx := context.Background()
		q.Start(ctx)
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@one.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
		noCrash(t)
		return
	}
	if n := restarted(t, crashes(t, PanicAttempt)); n != 0 {
		t.Fatalf("%d deliveries after the restart of a message the attempt's end had committed delivered", n)
	}
}

// SPEC: a panic of the scheduler's loop crashes (it was run
// again a second later): the loop takes the scheduler's lock and hands
// jobs on, and a panic there may leave the lock held.
func TestQ5PanicInLoopCrashes(t *testing.T) {
	if s, ok := crashChild(t); ok {
		q := NewManager(s, newPlanned(), ManagerConfig{MaxActive: 8})
		panicOnce(q, PanicLoop)
		q.Start(context.Background())
		noCrash(t)
		return
	}
	crashes(t, PanicLoop)
}
