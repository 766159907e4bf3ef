package tracking

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SetLogger sets the logger the log's own failures are reported to.
func (l *Log) SetLogger(log *slog.Logger) {
	l.mu.Lock()
	l.log = log
	l.mu.Unlock()
}

func newLostCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_tracking_log_events_lost_total",
		Help: "Tracking log events (message events and admin lines) not written: a write failed (a full disk, an I/O error)."})
}

// Events lost (rt51 F6). A write that fails (a full disk, an I/O error)
// loses the events whose lines it did not write whole: they are counted
// (umbra_tracking_log_events_lost_total), and the daemon's log says so in
// its own format — the first failure at once, then at most one line a
// lostLogEvery with the count lost since the line before — and says
// when a write succeeds again, with the count lost since the last line.

// lostLogEvery bounds the lines about lost events while writes fail.
const lostLogEvery = time.Minute

// A file a rotation (or Reopen) could not open — a full disk has no
// inode or block for it, the directory is not writable — is opened
// again by a later write, at most once an openEvery while it fails, so
// that writing resumes when space returns instead of at the next start;
// the events meanwhile are lost and counted as above.
const openEvery = time.Second

// openAgain opens the file again when the last try is openEvery past.
// Called with l.mu held and l.f nil.
func (l *Log) openAgain() {
	now := l.now()
	if now.Before(l.openAt) {
		return
	}
	l.openAt = now.Add(openEvery)
	if err := l.open(); err != nil {
		l.f = nil
	}
}

var (
	errNoFile = errors.New("the tracking log file could not be opened (after its rotation or a reopen); tried again at most once a second")
	errTorn   = errors.New("the new line after a torn one could not be written")
)

// noteLost counts n events lost to err, the first of them at t. Called
// with l.mu held.
func (l *Log) noteLost(n int, t time.Time, err error) {
	if n <= 0 {
		n = 1
	}
	if l.gapN == 0 {
		l.gapFrom = t
	}
	l.gapN += n
	l.lost.Add(float64(n))
	l.lostRun += n
	now := l.now()
	if l.failing && now.Sub(l.lostLast) < lostLogEvery {
		return
	}
	l.failing, l.lostLast = true, now
	if l.log == nil {
		if l.err == nil { // no logger (a tool, a test): stderr, once
			l.err = err
			fmt.Fprintf(os.Stderr, "umbra: tracking log %s: %v\n", l.path, err)
		}
	} else {
		l.log.Error("tracking log events lost: a write failed", "path", l.path, "err", err, "lost", l.lostRun,
			"next_report_in", lostLogEvery)
	}
	l.lostRun = 0
}

// noteWritten notes a write that went through. Called with l.mu held.
func (l *Log) noteWritten() {
	if !l.failing {
		return
	}
	l.failing = false
	if l.log != nil {
		l.log.Warn("tracking log written again after failed writes", "path", l.path, "lost_since_last_report", l.lostRun)
	}
	l.lostRun = 0
	l.err = nil
}

// report says err of the log's file (a rotation's open). Called with
// l.mu held.
func (l *Log) report(err error) {
	if l.log != nil {
		l.log.Error("tracking log file could not be opened; events are lost until it can be (tried again at most once a second)", "path", l.path, "err", err)
		return
	}
	fmt.Fprintf(os.Stderr, "umbra: tracking log %s: %v\n", l.path, err)
}
