package queue

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Settling attempts (rt17c F3). From its claim until a job of it
// reaches the deliverer, an attempt has handed nothing on: its start
// routes and splits it, dead destinations answer it at once (deadWait),
// crowded ones hold their share (throttled), and those answers wait for
// their commit — result_commit_delay and the group commit may hold it a
// moment. Its message is Active all that time, yet nothing of it is
// being delivered. An operator's message command that finds it so waits
// (at most settleWait) until a job runs (then it is in delivery:
// ErrBusy) or the answers are committed (then it acts on the message as
// it is), instead of refusing it as in delivery: a suspend --all behind
// a dead next hop refused messages here and there though none was
// delivered. The mark begins before the commit that makes the message
// Active (its claim's, activeset.go, or its submission's, submit.go):
// begun after it, a command that came between saw Active with no mark
// and refused it as in delivery.
//
// The same mark covers the attempt's end: from its last job's report
// (nothing of it is being delivered any more) until the end's commit
// (complete). A hold right after acceptance — Submit hands the message
// to an attempt of its own, whose job may return at once — found the
// record Active between the job's return and that commit and was
// refused ErrBusy, "being delivered", though nothing was (sched33,
// TestQ4SuspendRightAfterSubmitWaitsForTheAttemptsCommit); it now waits
// for the commit (at most settleWait) and acts on the message as it is.
type settling struct {
	mu  sync.Mutex
	ids map[ID]*settle
}

type settle struct {
	ch   chan struct{}
	once sync.Once
}

// settleWait bounds an operator's command's wait for a settling attempt.
const settleWait = 2 * time.Second

// begin marks id's attempt settling, or finds the mark its claim made;
// the func returned ends the mark (any number of calls: the first ends
// it).
func (s *settling) begin(id ID) func() {
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[ID]*settle{}
	}
	e := s.ids[id]
	if e == nil {
		e = &settle{ch: make(chan struct{})}
		s.ids[id] = e
	}
	s.mu.Unlock()
	return func() {
		e.once.Do(func() {
			s.mu.Lock()
			if s.ids[id] == e {
				delete(s.ids, id)
			}
			s.mu.Unlock()
			close(e.ch)
		})
	}
}

// of is the channel closed when id's attempt stops settling; nil when
// none settles.
func (s *settling) of(id ID) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.ids[id]; e != nil {
		return e.ch
	}
	return nil
}

// change is changeOnce, and once more after the commit of an attempt
// that only settles without a connection (settling): a message so
// found is not in delivery.
func (q *Manager) change(ctx context.Context, id ID, fn func(tx *Tx, m *Message) error) error {
	return q.changeFreeing(ctx, id, "", fn)
}

// changeFreeing is change for a change that frees room, named by
// freeing (changeOnceFreeing).
func (q *Manager) changeFreeing(ctx context.Context, id ID, freeing string, fn func(tx *Tx, m *Message) error) error {
	err := q.changeOnceFreeing(ctx, id, freeing, fn)
	if !errors.Is(err, ErrBusy) {
		return err
	}
	if !q.AwaitSettled(ctx, id) {
		return err
	}
	return q.changeOnceFreeing(ctx, id, freeing, fn)
}

// AwaitSettled waits, for a command that found message id Active, until
// its attempt stops settling (at most settleWait; ctx), and reports
// whether to look at the message again: its mark ended, or it has none —
// a job of it runs (in delivery: busy again), or its answers were
// committed between the first look and this one, and then it is not in
// delivery. The actions (change) and their dry run (the admin API's
// check) wait so alike.
func (q *Manager) AwaitSettled(ctx context.Context, id ID) bool {
	done := q.settling.of(id)
	if done == nil {
		return true
	}
	t := q.clk.NewTimer(settleWait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C():
	case <-ctx.Done():
	}
	return false
}
