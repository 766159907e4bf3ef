package smtp

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
)

// storageLogInterval is how often, at most, a full-disk episode writes
// a line past its first.
const storageLogInterval = time.Minute

// storageLog writes the log lines of messages refused for want of room
// (a full disk, a quota, a file size limit: noStorage, 452 4.3.1) once
// per episode: the first refusal's line at once, then at most one a
// storageLogInterval carrying suppressed=N (the refusals not logged
// since the last line), and "messages are stored again" with refused=N
// (the episode's refusals) at the first message stored once storing has
// held for storageLogInterval (no refusal since). A flood of clients
// retrying against a full disk would otherwise write a line per message
// to the disk that is full. A message stored sooner does not end the
// episode: on a disk full to the last page, deliveries free pages inside
// queue.db and a message fits in one now and then, and each such message
// ended it, so that the next refusal wrote a fresh ERROR line (28 ERROR
// and 28 "stored again" lines in 1.3 s: lifert43 F2). An episode after
// whose last refusal a message was stored ends too — its line written
// then — at the next refusal a minute or more on (a new episode, logged
// at once) or at the shutdown: no message need come a minute on to say
// storing held, and neither line then says the disk is still full. Each refusal is still answered
// and counted (umbra_smtp_commands_total) as before; other storage
// errors are logged each time.
type storageLog struct {
	clk     clock.Clock
	base    *slog.Logger // the end-of-episode line: no session's attributes
	failing atomic.Bool  // an episode is open: stored checks it at no cost otherwise

	mu         sync.Mutex
	last       time.Time // the episode's last line
	lastRefuse time.Time // the episode's last refusal
	// storedSince: a message was stored after the episode's last
	// refusal — storing works again, the episode not yet ended for
	// want of a message a minute on (failed, flush end it then).
	storedSince bool
	suppressed  int // refusals not logged since last
	refused     int // the episode's refusals
}

func newStorageLog(clk clock.Clock, base *slog.Logger) *storageLog {
	return &storageLog{clk: clk, base: base}
}

// failed logs msg at ERROR with l (the session's logger) unless the
// episode's line is less than storageLogInterval old.
func (s *storageLog) failed(l *slog.Logger, msg string, attrs ...any) {
	now := s.clk.Now()
	s.mu.Lock()
	if s.failing.Load() && s.storedSince && now.Sub(s.lastRefuse) >= storageLogInterval {
		// Storing held for a minute after the last refusal, with no
		// message since to say so: that episode ended, this refusal
		// begins a new one.
		s.endLocked()
	}
	s.refused++
	s.lastRefuse, s.storedSince = now, false
	if s.failing.Load() && now.Sub(s.last) < storageLogInterval {
		s.suppressed++
		s.mu.Unlock()
		return
	}
	if n := s.suppressed; n > 0 {
		attrs = append(attrs, "suppressed", n)
	}
	s.failing.Store(true)
	s.last, s.suppressed = now, 0
	s.mu.Unlock()
	l.Error(msg, attrs...)
}

// stored ends an episode, if one is open and its last refusal is
// storageLogInterval old: a message was stored, and storing has held.
func (s *storageLog) stored() {
	if !s.failing.Load() {
		return
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.failing.Load() {
		return
	}
	s.storedSince = true
	if now.Sub(s.lastRefuse) < storageLogInterval {
		return
	}
	s.endLocked()
}

// endLocked ends the open episode (s.mu held): "messages are stored
// again" with its counts.
func (s *storageLog) endLocked() {
	refused, suppressed := s.refused, s.suppressed
	s.failing.Store(false)
	s.refused, s.suppressed, s.storedSince = 0, 0, false
	s.base.Info("messages are stored again", "refused", refused, "suppressed", suppressed)
}

// flush writes, at shutdown, the count of refusals not logged yet — or,
// when a message was stored after the episode's last refusal, the
// episode's end: messages are not still refused then.
func (s *storageLog) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing.Load() && s.storedSince {
		s.endLocked()
		return
	}
	if s.failing.Load() && s.suppressed > 0 {
		s.base.Warn("messages still refused for want of room at shutdown", "refused", s.refused, "suppressed", s.suppressed)
		s.suppressed = 0
	}
}

// storeFailed logs a failure to store a message (err from the queue or a
// spool file): through the episode's limiter when it is for want of
// room, else at once.
func (s *session) storeFailed(msg string, err error, attrs ...any) {
	attrs = append(attrs, "err", err)
	if noStorage(err) {
		s.srv.storage.failed(s.log, msg, attrs...)
		return
	}
	s.log.Error(msg, attrs...)
}
