package queue

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Spool files the store failed to remove, and the spool directory's
// size for the operator. A spool file whose last reference a commit
// dropped is removed after that commit (unlinkSpool); when the removal
// fails (a directory made immutable, an I/O error) the failure is logged
// (WARN, with the file's name), counted, and the name kept: the queue
// retries it every minute (RetrySpoolUnlinks, from the scheduler's
// loop), and Open's sweep removes whatever is still there at the next
// start. A retry removes a file only while no record counts it.

// maxUnlinkPending bounds the names kept for a retry; past it a failure
// is still logged and counted, and the file left to Open's sweep.
const maxUnlinkPending = 100000

// spoolScanEvery bounds how often the gauges read the spool directory.
const spoolScanEvery = 30 * time.Second

type spoolStats struct {
	mu       sync.Mutex
	pending  map[string]bool // names whose removal failed
	failures uint64          // failed removals, retries included
	log      *slog.Logger
	remove   func(string) error // os.Remove; a test makes it fail

	scanMu       sync.Mutex // SpoolUsage's own: a scan never holds up removals
	scanned      time.Time
	files, bytes int64
}

// SetSpoolLogger sets the logger of spool file removals (slog.Default
// until set).
func (s *Store) SetSpoolLogger(l *slog.Logger) {
	s.spoolStats.mu.Lock()
	s.spoolStats.log = l
	s.spoolStats.mu.Unlock()
}

func (st *spoolStats) logger() *slog.Logger {
	if st.log != nil {
		return st.log
	}
	return slog.Default()
}

// removeSpoolFile removes one spool file; the caller holds unlinkMu.
func (s *Store) removeSpoolFile(name string) {
	st := &s.spoolStats
	st.mu.Lock()
	rm := st.remove
	st.mu.Unlock()
	if rm == nil {
		rm = os.Remove
	}
	err := rm(filepath.Join(s.spoolDir, name))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return
	}
	st.mu.Lock()
	st.failures++
	kept := len(st.pending) < maxUnlinkPending
	if kept {
		if st.pending == nil {
			st.pending = map[string]bool{}
		}
		st.pending[name] = true
	}
	log := st.logger()
	st.mu.Unlock()
	log.Warn("spool file no message names any more could not be removed; retried every minute and at the next start",
		"file", name, "err", err, "kept_for_retry", kept)
}

// RetrySpoolUnlinks retries the removals that failed: each file whose
// name no record counts (a count could only come back if a record named
// it again) is removed; what still fails stays, logged once per retry
// with the number left. The scheduler calls it every minute.
func (s *Store) RetrySpoolUnlinks() {
	st := &s.spoolStats
	st.mu.Lock()
	if len(st.pending) == 0 {
		st.mu.Unlock()
		return
	}
	names := make([]string, 0, len(st.pending))
	for n := range st.pending {
		names = append(names, n)
	}
	rm := st.remove
	st.mu.Unlock()
	if rm == nil {
		rm = os.Remove
	}
	s.unlinkMu.Lock()
	defer s.unlinkMu.Unlock()
	var removed, left int
	var lastErr error
	_ = s.db.View(func(tx *bolt.Tx) error {
		counted := tx.Bucket(bucketSpoolFiles)
		for _, n := range names {
			done := counted.Get([]byte(n)) != nil // named again: not garbage
			if !done {
				err := rm(filepath.Join(s.spoolDir, n))
				done = err == nil || errors.Is(err, fs.ErrNotExist)
				if err == nil {
					removed++
				} else if !done {
					lastErr = err
				}
			}
			st.mu.Lock()
			if done {
				delete(st.pending, n)
			} else {
				st.failures++
				left++
			}
			st.mu.Unlock()
		}
		return nil
	})
	log := st.logger()
	if removed > 0 {
		log.Info("spool files removed on retry", "removed", removed, "left", left)
	}
	if left > 0 {
		log.Warn("spool files no message names still cannot be removed", "left", left, "err", lastErr)
	}
}

// SpoolUnlinkFailures is the number of failed spool file removals
// (retries included); SpoolUnlinkPending the files waiting for a retry.
func (s *Store) SpoolUnlinkFailures() uint64 {
	s.spoolStats.mu.Lock()
	defer s.spoolStats.mu.Unlock()
	return s.spoolStats.failures
}

// SpoolUnlinkPending is the number of files waiting for a retry.
func (s *Store) SpoolUnlinkPending() int {
	s.spoolStats.mu.Lock()
	defer s.spoolStats.mu.Unlock()
	return len(s.spoolStats.pending)
}

// SpoolUsage is the number of files in the spool directory and their
// bytes (files being written included: it is the disk the spool uses),
// read from the directory at most every spoolScanEvery.
func (s *Store) SpoolUsage() (files, bytes int64) {
	st := &s.spoolStats
	st.scanMu.Lock()
	defer st.scanMu.Unlock()
	if now := time.Now(); st.scanned.IsZero() || now.Sub(st.scanned) >= spoolScanEvery {
		st.scanned = now
		st.files, st.bytes = 0, 0
		if ents, err := os.ReadDir(s.spoolDir); err == nil {
			for _, e := range ents {
				if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
					st.files++
					st.bytes += fi.Size()
				}
			}
		}
	}
	return st.files, st.bytes
}
