package queue

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitWorkers polls cond for up to ten seconds (something that should
// happen at once).
func waitWorkers(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A job runs on a worker parked by the job before it, not on a new
// goroutine, and every job runs exactly once.
func TestJobWorkersReuseParkedWorker(t *testing.T) {
	var w jobWorkers
	defer w.close()
	done := make(chan int, 10)
	for i := range 10 {
		w.run(func() { done <- i })
		if got := <-done; got != i {
			t.Fatalf("job %d ran as %d", i, got)
		}
		waitWorkers(t, "the worker to park", func() bool { return w.parked() == 1 })
	}
	select {
	case x := <-done:
		t.Fatalf("a job ran twice (%d)", x)
	default:
	}
}

// Jobs that run at the same time each get a goroutine of their own; once
// they end, at most maxIdleWorkers stay parked.
func TestJobWorkersConcurrentAndBounded(t *testing.T) {
	var w jobWorkers
	defer w.close()
	n := maxIdleWorkers + 20
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	release := make(chan struct{})
	for range n {
		w.run(func() {
			started.Done()
			<-release // all n block at once: each must have its own goroutine
			finished.Done()
		})
	}
	started.Wait()
	close(release)
	finished.Wait()
	waitWorkers(t, "the workers to park", func() bool { return w.parked() == maxIdleWorkers })
	time.Sleep(10 * time.Millisecond)
	if p := w.parked(); p != maxIdleWorkers {
		t.Fatalf("%d workers parked, want at most %d", p, maxIdleWorkers)
	}
}

// A job that ends its goroutine (runtime.Goexit) ends that worker only:
// later jobs still run.
func TestJobWorkersGoexit(t *testing.T) {
	var w jobWorkers
	defer w.close()
	exited := make(chan struct{})
	w.run(func() { defer close(exited); runtime.Goexit() })
	<-exited
	if p := w.parked(); p != 0 {
		t.Fatalf("%d workers parked after Goexit, want 0", p)
	}
	ran := make(chan struct{})
	w.run(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a job after a Goexit did not run")
	}
}

// close ends the parked workers; a job after it still runs.
func TestJobWorkersClose(t *testing.T) {
	var w jobWorkers
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	wg.Add(3)
	release := make(chan struct{})
	for range 3 {
		w.run(func() { <-release; wg.Done() })
	}
	close(release)
	wg.Wait()
	waitWorkers(t, "the workers to park", func() bool { return w.parked() == 3 })
	w.close()
	if p := w.parked(); p != 0 {
		t.Fatalf("%d workers parked after close", p)
	}
	waitWorkers(t, "the parked workers to end", func() bool { return runtime.NumGoroutine() <= before })
	ran := make(chan struct{})
	w.run(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("a job after close did not run")
	}
	waitWorkers(t, "the job's goroutine to end", func() bool { return runtime.NumGoroutine() <= before })
	if p := w.parked(); p != 0 {
		t.Fatalf("a worker parked after close (%d)", p)
	}
}
