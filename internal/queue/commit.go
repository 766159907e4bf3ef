package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The group commit, leader and followers. There is no commit goroutine:
// a writer that finds no commit running and a reason to commit becomes
// the leader and runs the bbolt transaction on its own goroutine, for
// itself and every writer queued before it (up to maxBatch, in arrival
// order). Writers that arrive meanwhile queue; when the leader's commit
// is done it answers its batch, hands the lead to the oldest queued
// writer if there is a reason to commit, and returns to its caller. So a
// lone writer (one session) commits on its own goroutine with no
// hand-off to another goroutine and back, and under concurrency the
// writers queued during one fsync share the next, as before. Each
// leader commits one batch: no writer's answer waits for a commit of
// writers that came after it.
//
// A deferred writer (UpdateDeferred) is no reason to commit: it stays
// queued ("set aside") until a writer that is not deferred arrives
// behind it, the queue reaches maxBatch, the oldest deferred writer's
// DeferLimit runs out (a timer then leads), Flush or StopDeferring (a
// goroutine then leads), or Close (which leads itself). Whichever
// commit comes takes the set-aside writers first, in arrival order, and
// the rest with them in one transaction. So a lone deferred writer pays
// at most DeferLimit of delay and no fsync of its own when others write.

type op struct {
	fn       func(*Tx) error
	done     chan error // capacity 1: the outcome, or errLead
	deferred bool       // UpdateDeferred: may wait up to the store's DeferLimit

	panicked any    // what fn panicked with (set by the leader)
	stack    []byte // where
}

// errLead, sent on a queued writer's done, makes it the next leader.
var errLead = errors.New("lead the next commit")

// errLeaderDied answers the writers of a batch whose leader's goroutine
// ended in the middle of the commit (runtime.Goexit, or a panic inside
// bbolt itself): their change may or may not be committed — as for a
// crash, the caller must not assume either.
var errLeaderDied = errors.New("the goroutine committing this change ended before the commit finished")

type groupCommit struct {
	mu       sync.Mutex
	idle     sync.Cond // signalled when running turns false (Close waits)
	maxBatch int
	closed   bool
	running  bool  // a leader holds the lead (committing, or handed on and not yet taken)
	queue    []*op // writers not yet in a commit, in arrival order
	urgent   int   // writers in queue that are not deferred
	deferred int   // writers in queue that are
	expired  bool  // the oldest set-aside writer's DeferLimit ran out, or Flush asked
	timer    *time.Timer
	timerGen uint64 // the timer that counts; an older one that fires anyway is ignored
	batch    []*op  // the leader's batch (only the one leader touches it)
}

func (g *groupCommit) init(maxBatch int) {
	g.maxBatch = maxBatch
	g.idle.L = &g.mu
	g.batch = make([]*op, 0, maxBatch)
}

// due says whether the queued writers are to be committed now. Called
// with g.mu held.
func (s *Store) due() bool {
	g := &s.gc
	return len(g.queue) > 0 && (g.urgent > 0 || g.expired || g.closed || len(g.queue) >= g.maxBatch ||
		s.noDefer.Load())
}

func (s *Store) update(ctx context.Context, o *op) error {
	lead, err := s.enqueue(ctx, o)
	if err != nil {
		return err
	}
	return s.await(o, lead)
}

// enqueue queues o; lead says the caller is to commit (await does).
func (s *Store) enqueue(ctx context.Context, o *op) (lead bool, err error) {
	g := &s.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	g.queue = append(g.queue, o)
	if o.deferred {
		g.deferred++
		if g.timer == nil {
			gen := g.timerGen
			g.timer = time.AfterFunc(s.deferLimit, func() { s.deferExpired(gen) })
		}
	} else {
		g.urgent++
	}
	if !g.running && s.due() {
		g.running = true
		lead = true
	}
	s.noteAside()
	return lead, nil
}

// noteAside counts the deferred writers set aside: queued with no commit
// under way (asideN). Called with g.mu held.
func (s *Store) noteAside() {
	if s.gc.running {
		s.asideN.Store(0)
	} else {
		s.asideN.Store(int64(s.gc.deferred))
	}
}

// await waits for o's outcome, leading a commit when told to. It
// returns whatever o's transaction returned; a panic of o.fn is raised
// again here, on o's own goroutine.
func (s *Store) await(o *op, lead bool) error {
	for {
		if lead {
			s.lead()
		}
		err := <-o.done
		if err == errLead {
			lead = true
			continue
		}
		if o.panicked != nil {
			r, stack := o.panicked, o.stack
			o.panicked, o.stack = nil, nil
			if e, ok := r.(error); ok {
				panic(fmt.Errorf("%w (in a transaction function:)\n%s", e, stack))
			}
			panic(fmt.Sprintf("%v (in a transaction function:)\n%s", r, stack))
		}
		return err
	}
}

// deferExpired is the DeferLimit timer: the set-aside writers commit now.
func (s *Store) deferExpired(gen uint64) {
	g := &s.gc
	g.mu.Lock()
	if gen != g.timerGen || g.timer == nil {
		g.mu.Unlock() // stopped too late: its writers were committed
		return
	}
	g.timer, g.timerGen = nil, g.timerGen+1
	g.expired = true
	lead := !g.running && s.due()
	if lead {
		g.running = true
		s.noteAside()
	}
	g.mu.Unlock()
	if lead {
		s.lead()
	}
}

// Flush asks for the writers UpdateDeferred set aside to be committed
// now, without waiting for it: someone started waiting for what they
// write (a shadow server's XQUERYDISCARD WAIT=). It costs nothing when
// none is set aside. A deferred writer that arrives after the Flush is
// set aside again (at most DeferLimit).
//
// Writers set aside by UpdateLaterUnread alone (nobody waits for them)
// are left to ride along with the next commit.
func (s *Store) Flush() {
	if !s.awaitedAside() {
		return
	}
	g := &s.gc
	g.mu.Lock()
	if g.closed || len(g.queue) == 0 {
		g.mu.Unlock() // nothing set aside: a running commit holds them
		return
	}
	g.expired = true
	lead := !g.running
	if lead {
		g.running = true
		s.noteAside()
	}
	g.mu.Unlock()
	if lead {
		go s.lead()
	}
}

// lead commits one batch: the queued writers from the oldest, up to
// maxBatch. The caller holds the lead (running); lead passes it to the
// oldest writer still queued if they are due, or gives it up.
func (s *Store) lead() {
	g := &s.gc
	g.mu.Lock()
	if !s.due() {
		s.release()
		g.mu.Unlock()
		return
	}
	n := min(len(g.queue), g.maxBatch)
	batch := append(g.batch[:0], g.queue[:n]...)
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:]) // no slot keeps a committed writer's function
	g.queue = g.queue[:rest]
	for _, o := range batch {
		if o.deferred {
			g.deferred--
		} else {
			g.urgent--
		}
	}
	if g.deferred == 0 {
		g.expired = false
		if g.timer != nil {
			g.timer.Stop()
			g.timer, g.timerGen = nil, g.timerGen+1
		}
	}
	g.mu.Unlock()

	answered := 0
	defer func() {
		// Only when the goroutine ends inside commit (Goexit, a panic
		// in bbolt): the batch is answered and the lead passed on, so
		// that the store stays usable; the panic goes on.
		if answered < len(batch) {
			for _, o := range batch[answered:] {
				o.done <- errLeaderDied
			}
			clear(batch)
			g.batch = batch[:0]
			s.handOn()
		}
	}()
	errs := s.commit(batch)
	for i, o := range batch {
		o.done <- errs[i]
		answered++
	}
	// The slice is reused: a slot a later, smaller batch does not
	// overwrite would keep its writer's function alive, and with it
	// what it captured (a message, its whole body).
	clear(batch)
	g.batch = batch[:0]
	s.handOn()
}

// handOn passes the lead to the oldest queued writer if they are due, or
// gives it up. Woken last, that writer is the next to run on this
// thread (Go's scheduler runs the goroutine readied last first).
func (s *Store) handOn() {
	g := &s.gc
	g.mu.Lock()
	if s.due() {
		next := g.queue[0]
		g.mu.Unlock()
		next.done <- errLead
		return
	}
	s.release()
	g.mu.Unlock()
}

// release gives the lead up. Called with g.mu held.
func (s *Store) release() {
	s.gc.running = false
	s.noteAside()
	s.gc.idle.Broadcast()
}

// commit runs batch in one transaction, and when that fails each writer
// alone, so that one writer's failure does not fail the others; it
// returns each writer's outcome. The spool files a committed transaction
// dropped the last reference to are removed after its commit.
func (s *Store) commit(batch []*op) []error {
	errs := make([]error, len(batch))
	start := time.Now()
	var unlink []string
	var forgotten []forgottenDB
	var early []settledEarly
	var deleted, marked []ID
	var owed []string
	var reserve ID
	var answer error // a writer's function's error: its answer, or trouble
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx := s.wrap(btx)
		defer func() {
			unlink, forgotten, early, deleted, marked, owed = tx.unlink, tx.forgotten, tx.settledEarly, tx.deleted, tx.marked, tx.owedTo
		}()
		for _, o := range batch {
			if err := o.call(tx); err != nil {
				answer = err
				return err
			}
		}
		var err error
		reserve, err = s.reserveInTx(btx) // idreserve.go
		return err
	})
	s.obs.Commit(time.Since(start), len(batch), trouble(err, answer))
	if err == nil {
		s.reservedCommitted(reserve)
		s.unlinkSpool(unlink) // after the commit that dropped their last reference
		s.logForgotten(forgotten)
		s.trackSettledEarly(early)
		s.trackMarked(marked)
		s.forgetDeleted(deleted)
		s.signalOwed(owed)
	}
	if err == nil || len(batch) == 1 {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, o := range batch {
		if o.panicked != nil {
			errs[i] = errPanicked // not run again: await raises its panic
			continue
		}
		start := time.Now()
		var unlink []string
		var forgotten []forgottenDB
		var early []settledEarly
		var deleted, marked []ID
		var owed []string
		var reserve ID
		var answer error
		err := s.db.Update(func(btx *bolt.Tx) error {
			tx := s.wrap(btx)
			defer func() {
				unlink, forgotten, early, deleted, marked, owed = tx.unlink, tx.forgotten, tx.settledEarly, tx.deleted, tx.marked, tx.owedTo
			}()
			if err := o.call(tx); err != nil {
				answer = err
				return err
			}
			var err error
			reserve, err = s.reserveInTx(btx)
			return err
		})
		s.obs.Commit(time.Since(start), 1, trouble(err, answer))
		if err == nil {
			s.reservedCommitted(reserve)
			s.unlinkSpool(unlink)
			s.logForgotten(forgotten)
			s.trackSettledEarly(early)
			s.trackMarked(marked)
			s.forgetDeleted(deleted)
			s.signalOwed(owed)
		}
		errs[i] = err
	}
	return errs
}

// trouble is what the Observer is told failed a commit whose
// transaction returned err: nil when it committed, and nil when it
// failed only because a writer's function answered with a refusal
// (answer, refused): an operator's action that does not apply, an
// unknown id, a refused copy — a refusal is no failed commit
// (rt18c-F2). Everything else is trouble: bbolt failing the commit (err
// with no answer, or from the id reservation) and any error of a
// function that is not named a refusal, so that an error no one
// foresaw counts rather than going silent.
func trouble(err, answer error) error {
	if err == nil || (answer != nil && err == answer && refused(answer)) {
		return nil
	}
	return err
}

// Refused marks err as a writer's decision, "refused, nothing wrong":
// returned from a transaction function, it fails the transaction as err
// does (errors.Is and As see err) without counting as a failed commit.
// The queue's own refusals (refusals, refusalTypes) need no mark.
func Refused(err error) error {
	if err == nil {
		return nil
	}
	return refusedError{err}
}

type refusedError struct{ err error }

func (e refusedError) Error() string { return e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// refusals are the queue's errors that answer an action by decision.
var refusals = []error{
	ErrNotApplicable, ErrNotFound, ErrBusy, ErrQueueSuspended, ErrDamagedRecord, ErrDamagedRequest,
	ErrNotQuarantined, ErrAlreadyReleased, ErrQuarantineFull, ErrShadowCopy, ErrNotDeliveryQueue,
	ErrBadCopy, ErrNoRecipients, ErrAnsweredSince, ErrTakeoverDeferred,
	ErrTakenOverAlready, ErrSoundCopyElsewhere,
}

// refused says whether a writer's function failed by its decision: err
// is marked Refused, is one of the refusals or a refusal type (an
// unknown queue name, an action with nothing to do, a database id that
// is another server's), and carries no
// trouble of the code or a record (a panic, a corrupt record).
func refused(err error) bool {
	if errors.Is(err, errPanicked) || errors.Is(err, errCorrupt) {
		return false
	}
	var marked refusedError
	var unknown *UnknownNameError
	var skip skipError
	var another *DatabaseOfAnotherError
	if errors.As(err, &marked) || errors.As(err, &unknown) || errors.As(err, &skip) || errors.As(err, &another) {
		return true
	}
	for _, e := range refusals {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errPanicked fails a transaction one of whose functions panicked.
var errPanicked = errors.New("a transaction function panicked")

// call runs o.fn; a panic fails the transaction and is kept for await,
// which raises it on o's goroutine: it is o's caller's panic, not the
// leader's, and the leader must go on to answer its batch.
func (o *op) call(tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			o.panicked, o.stack = r, debug.Stack()
			err = errPanicked
		}
	}()
	if err := o.fn(tx); err != nil {
		return err
	}
	return tx.injected() // commitfault.go: tests only
}

// queued is how many writers wait for a commit (tests).
func (s *Store) queued() int {
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	return len(s.gc.queue)
}

// Close commits the writers already queued (the set-aside ones too),
// refuses every later one, and closes the database.
func (s *Store) Close() error {
	g := &s.gc
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
		g.timer, g.timerGen = nil, g.timerGen+1
	}
	for g.running || len(g.queue) > 0 {
		if g.running {
			g.idle.Wait()
			continue
		}
		g.running = true
		s.noteAside()
		g.mu.Unlock()
		s.lead()
		g.mu.Lock()
	}
	g.mu.Unlock()
	s.pwOnce.Do(func() {}) // after the slot file's opening, if there was one
	if s.pw != nil {
		s.pw.close()
	}
	return s.db.Close()
}
