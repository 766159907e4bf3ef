package queue

import (
	"errors"
	"sync"
	"time"
)

// ErrAnsweredSince is ShadowHeartbeatFailed's answer for a heartbeat that
// failed although the primary completed a session with this server after
// the heartbeat began: the primary is alive (it was stopped, or slow,
// while the heartbeat waited), so the failure is not counted and nothing
// is taken over. Taking its copies over now would deliver again what the
// primary delivers itself.
var ErrAnsweredSince = errors.New("the primary completed a session with this server after the heartbeat began")

// ErrTakeoverDeferred is ShadowHeartbeatFailed's answer for a failed
// heartbeat that reached the retry count less than timeout × retries
// after the last contact of any kind with the primary (answeredAt.last):
// the failure is counted, nothing is taken over, and the next failed
// heartbeat past that bound takes the copies over.
var ErrTakeoverDeferred = errors.New("the primary was heard from less than timeout × retries ago: takeover deferred")

// ErrTakenOverAlready is ShadowHeartbeatFailed's answer in place of
// ErrTakeoverDeferred when the primary's copies were taken over before
// (a restart of this server since counts as a contact): the failure is
// counted, and there is no takeover to come, only the one done.
var ErrTakenOverAlready = errors.New("the primary's copies are taken over already")

// answeredAt remembers, per primary, when it last completed a session
// with this server: a discard query (heartbeat, watch, delivery session:
// ShadowContact), a reconciliation or a shadow session of its own
// ended by its QUIT — its probe, a relay (ShadowAnswered), a copy it
// pushed here, an XSHADOW reply presenting the stored database id on any
// session (ShadowPresented: only the primary holding the copies' mail
// knows that id). A heartbeat's own XSHADOW reply is saved only with
// the discards it read, so a primary that answers XSHADOW and then hangs
// still fails that heartbeat.
//
// It is also the last contact of any kind that bounds a takeover
// (ShadowHeartbeatFailed: never before timeout × retries after it).
// Memory only: a restart ends every heartbeat in flight, and the next one
// starts after it; start, when this manager was made, stands for every
// contact before it (a restart of this server forgot them), so a restart
// makes a takeover later, never earlier.
type answeredAt struct {
	mu    sync.Mutex
	at    map[string]time.Time
	start time.Time
	// pushed: when each primary last handed discards here on a session
	// of its own (XDISCARD: ShadowPushedMarked), since this start; shadow
	// list says so of a primary this server cannot reach (partition49).
	pushed map[string]time.Time
}

// notePushed records that primary handed discards here at t.
func (a *answeredAt) notePushed(primary string, t time.Time) {
	primary = serverKey(primary)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pushed == nil {
		a.pushed = map[string]time.Time{}
	}
	if t.After(a.pushed[primary]) {
		a.pushed[primary] = t
	}
}

// ShadowPushedHere is when primary last handed discards here on a
// session of its own (XDISCARD) since this manager started; zero when
// it did not.
func (q *Manager) ShadowPushedHere(primary string) time.Time {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	q.answered.mu.Lock()
	defer q.answered.mu.Unlock()
	return q.answered.pushed[primary]
}

func (a *answeredAt) note(primary string, t time.Time) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at == nil {
		a.at = map[string]time.Time{}
	}
	if t.After(a.at[primary]) {
		a.at[primary] = t
	}
}

// since reports whether primary completed a session after started.
func (a *answeredAt) since(primary string, started time.Time) bool {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at[primary].After(started)
}

// last is when primary was last heard from: its last contact of any
// kind since this manager started, else the start.
func (a *answeredAt) last(primary string) time.Time {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.at[primary]; t.After(a.start) {
		return t
	}
	return a.start
}

// ShadowLastHeard is when primary was last heard from (answeredAt.last):
// no takeover for failed heartbeats comes before timeout × retries after
// it. For the takeover forecast of shadow list.
func (q *Manager) ShadowLastHeard(primary string) time.Time {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	return q.answered.last(primary)
}

// ShadowHeard is when primary was last heard from since this manager
// started (answeredAt), zero when it was not: shadow list's last contact
// counts a copy it pushed too.
func (q *Manager) ShadowHeard(primary string) time.Time {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	q.answered.mu.Lock()
	defer q.answered.mu.Unlock()
	return q.answered.at[primary]
}

// ShadowAnswered records that primary completed a session with this
// server now that is no discard query (a reconciliation): a heartbeat
// that began before and fails takes nothing over (ErrAnsweredSince).
// The failed heartbeats counted before are forgotten (shadowAlive).
func (q *Manager) ShadowAnswered(primary string) {
	primary = serverKey(primary) // one holder-side spelling (primaryfold.go)
	q.answered.note(primary, q.clk.Now())
	q.shadowAlive(primary)
}
