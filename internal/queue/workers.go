package queue

import "sync"

// jobWorkers runs delivery jobs on goroutines kept for the next job
// instead of one new goroutine per job. A new goroutine starts with a
// small stack and grows it by copying it whole; a job relaying one
// message grows it three times (the deliverer's SMTP client runs deep),
// which was about half of the daemon's stack copies at one session
// (BENCHMARKS.md, "One session: where the daemon's CPU goes"). A kept
// goroutine keeps its stack for the next job (a garbage collection may
// shrink an idle one; the next job grows it once more).
//
// It changes nothing a job sees: each runs on a goroutine of its own,
// one at a time, with nothing left of the one before. At most
// maxIdleWorkers wait for work; one more ends when its job does. A job
// that ends its goroutine (runtime.Goexit) ends that worker only.
type jobWorkers struct {
	mu     sync.Mutex
	idle   []chan func() // parked workers, the most recently parked last
	closed bool
}

const maxIdleWorkers = 64

// run runs f on a parked worker, or on a new one.
func (w *jobWorkers) run(f func()) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 && !w.closed {
		ch := w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		ch <- f // buffered: never blocks
		return
	}
	w.mu.Unlock()
	go w.work(f)
}

func (w *jobWorkers) work(f func()) {
	ch := make(chan func(), 1)
	for f != nil {
		f()
		f = nil // nothing of the job stays reachable while parked
		w.mu.Lock()
		if w.closed || len(w.idle) >= maxIdleWorkers {
			w.mu.Unlock()
			return
		}
		w.idle = append(w.idle, ch)
		w.mu.Unlock()
		f = <-ch // nil once closed
	}
}

// close ends the parked workers; later jobs each get a goroutine that
// ends with them.
func (w *jobWorkers) close() {
	w.mu.Lock()
	w.closed = true
	idle := w.idle
	w.idle = nil
	w.mu.Unlock()
	for _, ch := range idle {
		close(ch)
	}
}

// parked is how many workers wait for a job (tests).
func (w *jobWorkers) parked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.idle)
}
