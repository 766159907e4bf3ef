package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// requeue puts an interrupted message back as due now, without counting an
// attempt.
func (q *Manager) requeue(m *Message) {
	m.State, m.NextAttempt = Ready, q.clk.Now()
	var took bool
	restore := rerunnable(m) // shadowadmin.go
	if err := q.store.Update(context.Background(), func(tx *Tx) error {
		restore()
		var err error
		took, err = putLeavingTook(tx, m)
		return err
	}); err != nil {
		if !errors.Is(err, ErrClosed) {
			q.strandFailed("requeue failed; the message is attempted again", m.ID, err)
		}
		return
	}
	if took {
		q.trackTakeover(m)
	}
}

func (q *Manager) poison(m *Message, why string) {
	q.poisonGiving(m, why, false)
}

// poisonUnreadable is poison for a body found unreadable here: in the
// same commit the message is given to the holder of its shadow copy,
// when one is known (handback.go).
func (q *Manager) poisonUnreadable(m *Message, why string) {
	q.poisonGiving(m, why, true)
}

func (q *Manager) poisonGiving(m *Message, why string, give bool) {
	m.State, m.LastError = Poison, why
	var took bool
	holder := ""
	restore := rerunnable(m) // shadowadmin.go
	if err := q.store.Update(context.Background(), func(tx *Tx) error {
		restore()
		var err error
		if !give {
			// The poison queue is a hold the operator sees: its copy
			// is settled in this commit, as Recover's move there
			// settles it (hold.go).
			if err = settlePoisonCopy(tx, m, q.clk.Now()); err != nil {
				return err
			}
		}
		if took, err = putLeavingTook(tx, m); err != nil {
			return err
		}
		if give {
			if holder, err = tx.handBackTx(m, q.clk.Now()); err != nil {
				return err
			}
		}
		// The attempt's results are lost (a panic, an unreadable body):
		// the discards kept aside for copies it made are spent, as at
		// Recover (earlyspent.go).
		_, err = tx.dropSpentEarlyDiscards(map[ID]bool{m.ID: true})
		return err
	}); err != nil {
		q.strandFailed("moving message to the poison queue failed; the message is attempted again", m.ID, err)
		return
	}
	if took {
		q.trackTakeover(m)
	}
	q.log.Warn("message moved to the poison queue", "msg_id", m.ID.String(), "reason", why)
	q.ev.Event("poison", m, nil, why)
	if holder != "" {
		// Its commit woke the holder's long poll (handBackTx, owedsignal.go).
		q.log.Warn("poison message given to the holder of its shadow copy: it takes the copy over when it next asks for its discard notifications",
			"msg_id", m.ID.String(), "shadow_server", holder)
	}
}

// Policy is the part of the configuration a reload may change.
type Policy struct {
	RetrySchedule     []time.Duration
	RetryJitter       float64
	MessageExpiration time.Duration
	DelayNotification time.Duration
	// Inside is where the organisation ends, for DSNs (dsnReporter).
	Inside Inside
}

func (q *Manager) policy() Policy {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	return Policy{RetrySchedule: q.cfg.RetrySchedule, RetryJitter: q.cfg.RetryJitter, MessageExpiration: q.cfg.MessageExpiration,
		DelayNotification: q.cfg.DelayNotification, Inside: q.cfg.Inside}
}

// SetPolicy changes retry and expiry settings; they apply from the next
// attempt on (waits already scheduled stay as they are).
func (q *Manager) SetPolicy(p Policy) {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	if len(p.RetrySchedule) > 0 {
		q.cfg.RetrySchedule = p.RetrySchedule
	}
	q.cfg.RetryJitter = p.RetryJitter
	if p.MessageExpiration > 0 {
		q.cfg.MessageExpiration = p.MessageExpiration
	}
	q.cfg.DelayNotification = p.DelayNotification
	q.cfg.Inside = p.Inside
}

// backoff is the wait after the n-th failed attempt, with jitter so that
// messages deferred together do not retry in lockstep.
func (p Policy) backoff(n int) time.Duration {
	d := p.RetrySchedule[max(min(n, len(p.RetrySchedule)), 1)-1]
	if j := p.RetryJitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
	}
	return d
}
