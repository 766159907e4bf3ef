package queue

import "sync/atomic"

// commitFault, when set (tests only: setCommitFault), runs after each
// writer's function inside its transaction; an error it returns fails
// that writer's commit as an error of the disk would (ENOSPC, EIO). It
// lets a test fail one kind of commit — an attempt's results — while
// the others go through, which is what a database file with no free page
// on a full filesystem does: a small change finds room in the file, a
// large one must grow it and cannot.
type commitFault = atomic.Pointer[func(*Tx) error]

// setCommitFault sets (nil: clears) the fault of s's commits.
func (s *Store) setCommitFault(f func(*Tx) error) {
	if f == nil {
		s.fault.Store(nil)
		return
	}
	s.fault.Store(&f)
}

// injected is the fault set for tx's commit, nil without one.
func (tx *Tx) injected() error {
	if tx.store == nil {
		return nil
	}
	if f := tx.store.fault.Load(); f != nil {
		return (*f)(tx)
	}
	return nil
}
