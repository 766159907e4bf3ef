package tracking

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// rotateEvery is how old the current file's first line may get before
// the file rotates when an age bound is set: lines then age out with
// their file, at most a day after max_age.
const rotateEvery = 24 * time.Hour

// SetMaxAge bounds the age of the log (tracking.max_age): the current
// file rotates once its first line is a day old, and a rotated file
// whose last write is older than d is deleted — now, at each rotation
// and hourly until Close. 0 leaves only the size bound.
func (l *Log) SetMaxAge(d time.Duration) {
	l.mu.Lock()
	l.maxAge = d
	start := d > 0 && l.stop == nil
	if start {
		l.stop = make(chan struct{})
	}
	stop := l.stop
	l.mu.Unlock()
	l.Prune()
	if start {
		go func() {
			t := time.NewTicker(time.Hour)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					l.pruneRecovered()
				}
			}
		}()
	}
}

// pruneRecovered is Prune on the hourly goroutine. A panic of it (a
// defect) is recovered — Prune's lock is unlocked by defer —, counted
// (umbra_tracking_log_prune_panics_total) and logged at ERROR (once a
// minute: panicline, no event's content); the log goes on being
// written, the daemon serving, and the next hour tries again.
func (l *Log) pruneRecovered() {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			l.mu.Lock()
			log, c := l.log, l.prunePanics
			l.mu.Unlock()
			c.Inc()
			if line, ok := l.panics.Attrs(time.Now(), r, stack); ok && log != nil {
				log.Error("tracking log pruning panicked", line...)
			}
		}
	}()
	l.Prune()
}

// Prune deletes the rotated files whose last write is older than the
// age bound and returns how many it deleted.
func (l *Log) Prune() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pruneLocked()
}

func (l *Log) pruneLocked() int {
	if l.maxAge <= 0 {
		return 0
	}
	cutoff := l.now().Add(-l.maxAge)
	n := 0
	for i := 1; i <= l.maxFiles; i++ {
		name := fmt.Sprintf("%s.%d", l.path, i)
		fi, err := os.Stat(name)
		if err != nil || !fi.ModTime().Before(cutoff) || !ownRotated(name) {
			continue
		}
		if os.Remove(name) == nil {
			n++
		}
	}
	if l.pruned != nil {
		l.pruned.Add(float64(n))
	}
	return n
}

// firstLineTime reads the time of the file's first entry (zero when it
// has none or it cannot be read).
func firstLineTime(path string) time.Time {
	f, err := openRegular(path)
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return time.Time{}
	}
	var e struct {
		Time time.Time `json:"time"`
	}
	json.Unmarshal(sc.Bytes(), &e)
	return e.Time
}

// Register exports the log's retention metrics: its files and bytes now
// (current and rotated), and the files the age bound deleted.
func (l *Log) Register(reg prometheus.Registerer) {
	l.mu.Lock()
	l.pruned = prometheus.NewCounter(prometheus.CounterOpts{Name: "umbra_tracking_log_pruned_files_total",
		Help: "Rotated tracking log files deleted because they were older than tracking.max_age."})
	l.mu.Unlock()
	stat := func() (files int, bytes int64) {
		for i := 0; i <= l.maxFiles; i++ {
			name := l.path
			if i > 0 {
				name = fmt.Sprintf("%s.%d", l.path, i)
			}
			if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() { // a link at a rotated name counts as its file (openRegular)
				files++
				bytes += fi.Size()
			}
		}
		return
	}
	l.mu.Lock()
	if l.lost == nil {
		l.lost = newLostCounter()
	}
	lost := l.lost
	l.mu.Unlock()
	reg.MustRegister(l.pruned, lost, l.prunePanics,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_tracking_log_files", Help: "Tracking log files on disk (the current one and the rotated ones)."},
			func() float64 { n, _ := stat(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "umbra_tracking_log_bytes", Help: "Bytes of the tracking log files on disk."},
			func() float64 { _, b := stat(); return float64(b) }))
}
