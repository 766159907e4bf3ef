package dumpster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umbra/internal/clock"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
)

// Bounded steps: no transaction holds more than this many entries, so a
// large prune or redelivery never blocks the group commit for long.
const (
	pruneBatch    = 500
	resubmitBatch = 200
	clearBatch    = 2000
	// keepEvictMax bounds the evictions done inside a delivery's commit;
	// when more are needed, Run evicts the rest right after that commit
	// (Keep wakes it), in commits of pruneBatch.
	keepEvictMax = 64
)

// Config is the retention policy; a reload may change it.
type Config struct {
	// MaxSizePerDatabase bounds each database's copies in bytes; 0 keeps
	// none (the dumpster is off).
	MaxSizePerDatabase int64
	// MaxTime bounds their age.
	MaxTime time.Duration
	// PruneInterval is how often age and size are enforced outside
	// deliveries; default one minute.
	PruneInterval time.Duration
}

// Observer hears what the dumpster did (metrics). Calls happen after the
// commit that did it.
type Observer interface {
	// DumpsterKept hears of a copy kept: again for a copy of a
	// dumpster redelivery copy (delivered again, or kept back after
	// failing), which stands in for the copy its request took out of
	// the dumpster (DumpsterResubmitted), not a new one.
	DumpsterKept(database string, bytes int64, again bool)
	DumpsterEvicted(database, reason string, n int)
	DumpsterResubmitted(database string, n int)
}

// Eviction reasons.
const (
	ReasonAge    = "age"     // older than MaxTime
	ReasonSize   = "size"    // the oldest, to make room
	ReasonTooBig = "too_big" // bigger than MaxSizePerDatabase: never kept
	// ReasonRemoved: the operator removed it (Remove).
	ReasonRemoved = "removed"
	// ReasonUnreadable: a redelivery request found it unreadable (its
	// record does not decode, names no recipient, or its spool file is
	// gone or cut short) and dropped it, naming it in the log.
	ReasonUnreadable = "unreadable"
)

type nopObserver struct{}

func (nopObserver) DumpsterKept(string, int64, bool)                     {}
func (nopObserver) DumpsterEvicted(string, string, int)                  {}
func (nopObserver) DumpsterResubmitted(string, int)                      {}
func (nopEvents) Event(string, *queue.Message, *queue.Recipient, string) {}

type nopEvents struct{}

// Dumpster keeps copies of final deliveries per mailbox database, prunes
// them, and carries out redelivery requests.
type Dumpster struct {
	store *queue.Store
	clk   clock.Clock
	log   *slog.Logger
	obs   Observer
	ev    queue.Events
	cfg   atomic.Pointer[Config]
	// reqMu: one redelivery request at a time, and Remove and Run's
	// evictions (evictSize, Prune) take turns with it, so a request's
	// window never loses a copy halfway.
	reqMu sync.Mutex
	// over wakes Run to evict by size at once: a Keep left its database
	// over the bound (more to evict than keepEvictMax), or a reload
	// lowered the bound.
	over chan struct{}
}

// Options are the optional parts of a Dumpster.
type Options struct {
	Clock    clock.Clock
	Log      *slog.Logger
	Observer Observer
	Events   queue.Events // tracking log: "resubmit" per message
}

// New returns a dumpster over the manager's store. Give it to the
// manager as ManagerConfig.Dumpster. It needs no manager: what it puts
// back into the queue is committed to the store, which wakes the
// scheduler (Store.Wake).
func New(store *queue.Store, cfg Config, o Options) *Dumpster {
	d := &Dumpster{store: store, clk: o.Clock, log: o.Log, obs: o.Observer, ev: o.Events, over: make(chan struct{}, 1)}
	if d.clk == nil {
		d.clk = clock.Real{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.obs == nil {
		d.obs = nopObserver{}
	}
	if d.ev == nil {
		d.ev = nopEvents{}
	}
	d.SetConfig(cfg)
	return d
}

// SetConfig changes the retention policy (reload).
func (d *Dumpster) SetConfig(c Config) {
	if c.PruneInterval <= 0 {
		c.PruneInterval = time.Minute
	}
	old := d.cfg.Swap(&c)
	if old != nil && c.MaxSizePerDatabase < old.MaxSizePerDatabase {
		d.wakeOver() // a lowered bound holds from now, not from the next prune
	}
}

// wakeOver asks Run to evict by size now (it does not block).
func (d *Dumpster) wakeOver() {
	select {
	case d.over <- struct{}{}:
	default:
	}
}

func (d *Dumpster) config() Config { return *d.cfg.Load() }

// Keep implements queue.Keeper: inside the commit of a final delivery
// it adds a copy holding the recipients delivered into database, then
// evicts that database's oldest copies while it is over its size, at
// most keepEvictMax of them; if that was not enough, Run evicts the rest
// right after the commit (wakeOver), so the bound is over only until the
// commits that follow it, never until the next periodic prune.
func (d *Dumpster) Keep(tx *queue.Tx, m *queue.Message, body queue.Body, database string, rcpts []int, now time.Time) (func(), error) {
	after, _, err := d.keep(tx, m, body, database, rcpts, now)
	return after, err
}

// KeepAgain is Keep for the recipients of a dumpster redelivery copy
// that failed (queue keepback.go), saying whether the copy is kept: not
// when the dumpster is turned off or the message is bigger than its
// bound now (a reload lowered it since the copy was kept) — the mail is
// gone then, and the queue's log says so.
func (d *Dumpster) KeepAgain(tx *queue.Tx, m *queue.Message, body queue.Body, database string, rcpts []int, now time.Time) (func(), bool, error) {
	return d.keep(tx, m, body, database, rcpts, now)
}

// keep is Keep, reporting whether the recipients are in a copy now (one
// config read: a reload cannot make the answer another keep's).
func (d *Dumpster) keep(tx *queue.Tx, m *queue.Message, body queue.Body, database string, rcpts []int, now time.Time) (func(), bool, error) {
	cfg := d.config()
	if cfg.MaxSizePerDatabase <= 0 || len(rcpts) == 0 {
		return nil, false, nil
	}
	size := body.Len()
	if size > cfg.MaxSizePerDatabase {
		return func() {
			d.obs.DumpsterEvicted(database, ReasonTooBig, 1)
			d.log.Info("message bigger than the dumpster of its database: not kept", "msg_id", m.ID.String(),
				"database", database, "size", size, "max_dumpster_size_per_database", cfg.MaxSizePerDatabase)
		}, false, nil
	}
	// One copy per message and database: recipients delivered into the
	// database by another part of this commit (a redelivery with mixed
	// outcomes) or by an earlier commit join the copy kept then; its
	// body and size are counted once.
	if key, ok := earlierCopy(tx, m, database, rcpts, now); ok {
		old, err := tx.DumpsterCopy(key)
		if err == nil && old != nil {
			return nil, true, tx.DumpsterRecipients(key, Copy(m, joined(m, rcpts, old)))
		}
	}
	cp := Copy(m, rcpts)
	key := queue.DumpsterKey{Database: database, KeptAt: now, ID: m.ID}
	for tx.DumpsterHas(key) { // another message's copy at this instant: not this id's (earlierCopy)
		key.KeptAt = key.KeptAt.Add(time.Nanosecond)
	}
	if err := tx.DumpsterPutBody(key, cp, body); err != nil { // a spooled body: one more reference to its file
		return nil, false, err
	}
	evicted, err := evictOver(tx, database, cfg.MaxSizePerDatabase, keepEvictMax)
	if err != nil {
		return nil, false, err
	}
	stillOver := tx.DumpsterStat(database).Bytes > cfg.MaxSizePerDatabase
	again := m.Redelivered() // in place of the copy its request took out
	return func() {
		d.obs.DumpsterKept(database, size, again)
		if evicted > 0 {
			d.obs.DumpsterEvicted(database, ReasonSize, evicted)
		}
		if stillOver {
			d.wakeOver()
		}
	}, true, nil
}

// earlierCopyScan bounds earlierCopy's fallback walk: the keys of
// copies it reads (keys only: a few milliseconds of the commit).
const earlierCopyScan = 4096

// earlierCopy finds the copy of m in database kept before this Keep: by
// this commit (at now), or, when another recipient of m is delivered
// already, by an earlier commit. That commit wrote the recipient's
// delivered record with the time it kept the copy at (DeliveredAt), so
// the copy is looked for there first (a second of slack: Keep moves a
// copy kept at the instant of another's on by a nanosecond), whatever
// the number of copies kept since; only when no record leads to it — no org id, a
// record cleared by a redelivery request, a copy evicted — are the
// copies kept since m got its queue id read (a minute of slack for a
// clock set back), oldest first, at most earlierCopyScan of them: this
// runs inside the group commit. A copy past them is not found, and Keep
// keeps a copy of its own for the new recipients — the body counted
// twice in the database's total, each recipient still in one copy, so
// a redelivery delivers each once.
func earlierCopy(tx *queue.Tx, m *queue.Message, database string, rcpts []int, now time.Time) (queue.DumpsterKey, bool) {
	if k := (queue.DumpsterKey{Database: database, KeptAt: now, ID: m.ID}); tx.DumpsterHas(k) {
		return k, true
	}
	earlier := false
	for i, r := range m.Rcpts {
		if r.Status != queue.Delivered || slices.Contains(rcpts, i) {
			continue
		}
		earlier = true
		if at, ok := tx.DeliveredAt(database, m.OrgID, r.Addr); ok && !at.IsZero() {
			if k, ok := tx.DumpsterFind(database, m.ID, at, at.Add(time.Second)); ok {
				return k, true
			}
		}
	}
	if !earlier {
		return queue.DumpsterKey{}, false
	}
	return tx.DumpsterFindWithin(database, m.ID, now.Add(-m.ID.Age(now)-time.Minute), time.Time{}, earlierCopyScan)
}

// joined is the indexes in m of rcpts and of the recipients of old (a
// copy of m, so m names each of them, in canonical form: Copy), in m's order.
func joined(m *queue.Message, rcpts []int, old *queue.Message) []int {
	var out []int
	for i, r := range m.Rcpts {
		if slices.Contains(rcpts, i) || slices.ContainsFunc(old.Rcpts, func(o queue.Recipient) bool { return mailaddr.Canonical(o.Addr) == mailaddr.Canonical(r.Addr) }) {
			out = append(out, i)
		}
	}
	return out
}

// Copy is the dumpster's copy of m for the recipients rcpts: envelope and
// origin only, every recipient pending again. A redelivery must not
// announce success to the sender a second time, so NOTIFY=SUCCESS is
// dropped; failure and delay notices stay as the sender asked. Sender
// and recipients are given their canonical form (mailaddr.Canonical), as
// RCPT stores them: a copy kept with a final dot by an earlier release is
// redelivered to the mailbox the user reads (rt16d F1). The bytes the
// receiving sessions added to the body kept (Grown) stay: size limits on
// the copy's way back hold it as its sender sent it, as they held the
// first (package delivery, ownBytes). The copy keeps m's receipt —
// this server's (ArrivedHere) and the organisation's before it
// (OrgReceived) —, not the age clock a release may have moved: the
// receipt is a fact the copy carries back when it is resubmitted.
func Copy(m *queue.Message, rcpts []int) *queue.Message {
	cp := &queue.Message{ID: m.ID, State: queue.Ready, From: mailaddr.Canonical(m.From), Arrived: m.ArrivedHere(), Size: m.Size,
		OrgEarlier: max(m.ArrivedHere().Sub(m.OrgReceived()), 0),
		Connector:  m.Connector, ClientIP: m.ClientIP, Helo: m.Helo, MessageID: m.MessageID, OrgID: m.OrgID,
		EnvID: m.EnvID, RetFull: m.RetFull, RetHdrs: m.RetHdrs, UTF8: m.UTF8, EightBit: m.EightBit, Internal: m.Internal, RequireTLS: m.RequireTLS,
		Grown: m.Grown, GrownKnown: m.GrownKnown}
	for _, i := range rcpts {
		r := m.Rcpts[i]
		n := r.Notify &^ queue.NotifySuccess
		if r.Notify != 0 && n == 0 {
			n = queue.NotifyNever
		}
		cp.Rcpts = append(cp.Rcpts, queue.Recipient{Addr: mailaddr.Canonical(r.Addr), ORcpt: r.ORcpt, Notify: n})
	}
	return cp
}

// evictOver drops database's oldest copies while its total is over max,
// at most limit of them.
func evictOver(tx *queue.Tx, database string, max int64, limit int) (int, error) {
	st := tx.DumpsterStat(database)
	if st.Bytes <= max {
		return 0, nil
	}
	var victims []queue.DumpsterKey
	over := st.Bytes - max
	tx.DumpsterScan(database, time.Time{}, func(e queue.DumpsterEntry) bool {
		if over <= 0 || len(victims) == limit {
			return false
		}
		victims = append(victims, e.Key)
		over -= e.Size
		return true
	})
	for _, k := range victims {
		if _, err := tx.DumpsterDelete(k); err != nil {
			return 0, err
		}
	}
	return len(victims), nil
}

// Run prunes until ctx ends, after finishing any redelivery request a
// crash interrupted: every PruneInterval, and sooner when the oldest copy
// reaches max_dumpster_time before that (nextPrune), so no copy outlives
// it by more than the prune's commit (a prune that failed is tried again
// at the interval); and at once when a Keep left a database over its
// size (wakeOver), evicting only by size then.
func (d *Dumpster) Run(ctx context.Context) {
	d.resumeRequests(ctx)
	for {
		wait := d.config().PruneInterval
		if _, err := d.Prune(ctx); err != nil && ctx.Err() == nil {
			// Tried again at the interval: the copies it did not remove
			// are still due, and nextPrune would say so at once — a loop
			// of failing commits for as long as the disk stays full.
			d.log.Error("pruning the dumpster failed", "err", err)
		} else {
			wait = d.nextPrune()
		}
		t := d.clk.NewTimer(wait)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-d.over:
				if _, err := d.evictSize(ctx); err != nil && ctx.Err() == nil {
					d.log.Error("evicting dumpster copies over the size bound failed", "err", err)
				}
			case <-t.C():
				break wait
			}
		}
	}
}

// nextPrune is how long until the next prune: PruneInterval, or less if
// the oldest copy of a database reaches MaxTime before (a reload that
// shortens PruneInterval or MaxTime holds from the prune after).
func (d *Dumpster) nextPrune() time.Duration {
	cfg := d.config()
	wait := cfg.PruneInterval
	if cfg.MaxTime <= 0 {
		return wait
	}
	now := d.clk.Now()
	d.store.View(func(tx *queue.Tx) error {
		for _, db := range tx.DumpsterDatabases() {
			tx.DumpsterScan(db, time.Time{}, func(e queue.DumpsterEntry) bool {
				// a copy is pruned once it is older than MaxTime: a
				// nanosecond past its keep time plus MaxTime
				if w := e.Key.KeptAt.Add(cfg.MaxTime).Sub(now) + time.Nanosecond; w < wait {
					wait = max(w, time.Millisecond)
				}
				return false
			})
		}
		return nil
	})
	return wait
}

// evictSize evicts, oldest first, the copies over each database's size
// bound, in commits of at most pruneBatch copies, until every database
// is under it. It returns how many it evicted. It waits for a
// redelivery request under way (reqMu): evicting between two of the
// request's commits took the copies of its window it was to resubmit
// next (the request only takes copies out: the bound holds right after
// it).
func (d *Dumpster) evictSize(ctx context.Context) (int, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	var dbs []string
	if err := d.store.View(func(tx *queue.Tx) error { dbs = tx.DumpsterDatabases(); return nil }); err != nil {
		return 0, err
	}
	total := 0
	for _, db := range dbs {
		for ctx.Err() == nil {
			bound := max(d.config().MaxSizePerDatabase, 0) // 0: the dumpster was turned off: empty it
			var n int
			err := d.store.Update(ctx, func(tx *queue.Tx) error {
				var err error
				n, err = evictOver(tx, db, bound, pruneBatch)
				return err
			})
			if err != nil {
				return total, err
			}
			if n > 0 {
				d.obs.DumpsterEvicted(db, ReasonSize, n)
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
	}
	return total, ctx.Err()
}

// Prune evicts copies older than MaxTime and, oldest first, copies over
// each database's size, in transactions of at most pruneBatch entries.
// It also forgets redelivery requests older than the dumpster keeps
// copies (at least a day). It returns how many copies it evicted. It
// takes turns with redelivery requests (reqMu), as evictSize does.
func (d *Dumpster) Prune(ctx context.Context) (int, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	cfg := d.config()
	now := d.clk.Now()
	var dbs []string
	if err := d.store.View(func(tx *queue.Tx) error { dbs = tx.DumpsterDatabases(); return nil }); err != nil {
		return 0, err
	}
	total := 0
	for _, db := range dbs {
		for ctx.Err() == nil {
			var aged, sized int
			err := d.store.Update(ctx, func(tx *queue.Tx) error {
				aged, sized = 0, 0
				var old []queue.DumpsterKey
				if cfg.MaxTime > 0 {
					cutoff := now.Add(-cfg.MaxTime)
					tx.DumpsterScan(db, time.Time{}, func(e queue.DumpsterEntry) bool {
						if !e.Key.KeptAt.Before(cutoff) || len(old) == pruneBatch {
							return false
						}
						old = append(old, e.Key)
						return true
					})
				}
				for _, k := range old {
					if _, err := tx.DumpsterDelete(k); err != nil {
						return err
					}
				}
				aged = len(old)
				max := cfg.MaxSizePerDatabase
				if max <= 0 {
					max = 0 // the dumpster was turned off: empty it
				}
				var err error
				sized, err = evictOver(tx, db, max, pruneBatch-aged)
				return err
			})
			if err != nil {
				return total, err
			}
			if aged > 0 {
				d.obs.DumpsterEvicted(db, ReasonAge, aged)
			}
			if sized > 0 {
				d.obs.DumpsterEvicted(db, ReasonSize, sized)
			}
			total += aged + sized
			if aged+sized < pruneBatch {
				break
			}
		}
	}
	keep := max(cfg.MaxTime, 24*time.Hour)
	err := d.store.Update(ctx, func(tx *queue.Tx) error {
		for _, r := range tx.Requests() {
			if r.Phase == queue.Done && r.Started.Before(now.Add(-keep)) {
				if err := tx.DeleteRequest(r.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return total, err
}

// Entry is one kept copy, as listed.
type Entry struct {
	Database   string    `json:"database"`
	QueueID    string    `json:"queue_id"` // the message's id when it was delivered
	KeptAt     time.Time `json:"kept_at"`
	Size       int64     `json:"size"`
	From       string    `json:"from"`
	Recipients []string  `json:"recipients"`
	MessageID  string    `json:"message_id,omitempty"`
	OrgID      string    `json:"org_id,omitempty"` // organisation message id (SR-14)
}

// Summary is one database's dumpster.
type Summary struct {
	Database string    `json:"database"`
	Messages int64     `json:"messages"`
	Bytes    int64     `json:"bytes"`
	Oldest   time.Time `json:"oldest,omitzero"`
}

// Summaries lists every database's totals and oldest copy.
func (d *Dumpster) Summaries() ([]Summary, error) {
	var out []Summary
	err := d.store.View(func(tx *queue.Tx) error {
		out = out[:0]
		for _, db := range tx.DumpsterDatabases() {
			st := tx.DumpsterStat(db)
			s := Summary{Database: db, Messages: st.Messages, Bytes: st.Bytes}
			tx.DumpsterScan(db, time.Time{}, func(e queue.DumpsterEntry) bool { s.Oldest = e.Key.KeptAt; return false })
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// List returns up to limit copies of database db kept at or after since,
// oldest first.
func (d *Dumpster) List(db string, since time.Time, limit int) ([]Entry, error) {
	since = queue.StoredTime(since) // before 1970: every copy
	var out []Entry
	err := d.store.View(func(tx *queue.Tx) error {
		out = out[:0]
		tx.DumpsterScan(db, since, func(e queue.DumpsterEntry) bool {
			if limit > 0 && len(out) == limit {
				return false
			}
			out = append(out, entryOf(db, e))
			return true
		})
		return nil
	})
	return out, err
}

// Errors of Redeliver.
var (
	// ErrRequestConflict: the request id was used for another database
	// or window.
	ErrRequestConflict = errors.New("request id already used for another redelivery")
)

// Outcome says what a call of Redeliver did with its request.
type Outcome uint8

// Outcomes of Redeliver.
const (
	// Carried: a new request, carried out by this call.
	Carried Outcome = iota
	// Repeated: the request was carried out before; nothing was done
	// now, and the figures are the first run's.
	Repeated
	// Resumed: an earlier call (or a start) began the request and was
	// interrupted; this call finished it, and the figures are the
	// request's whole.
	Resumed
)

func (o Outcome) String() string {
	switch o {
	case Repeated:
		return "repeated"
	case Resumed:
		return "resumed"
	}
	return "carried"
}

// window is what a request names: copies kept since a time, given as
// the time or as a duration before the request's start.
type window struct {
	since time.Time
	ago   time.Duration
	byAgo bool
}

// at is the window's start for a request started at start, as its
// record holds it (queue.StoredTime): a start before 1970, before any
// copy could be kept (a time as far back as 1900 or 1650, a duration of
// a century or of the largest one, 2562047h), is the zero time: every
// copy. A retry names it the same way, so it is the same request.
func (w window) at(start time.Time) time.Time {
	if w.byAgo {
		return queue.StoredTime(start.Add(-w.ago))
	}
	return queue.StoredTime(w.since)
}

func (w window) String() string {
	if w.byAgo {
		return fmt.Sprintf("%s before its start", w.ago)
	}
	return w.since.UTC().Format(time.RFC3339Nano)
}

// Redeliver carries out a redelivery request (TD-2): database db lost
// what it got since since. First the duplicate records of db made since
// then are forgotten, so that every message it lost may be delivered
// again; then every copy kept for db since then goes back to the queue,
// and leaves the dumpster in the same commit (after delivery it returns
// with a new time). The request is stored under id before any step.
// Calling again with the same id and the same parameters (database and
// window) is the same request: a finished one returns its result without
// doing anything (Repeated), one that was interrupted is finished
// (Resumed); the same id with other parameters is refused
// (ErrRequestConflict), naming both. The window ends when the request
// began, so copies delivered again meanwhile are never taken twice. Each
// step is a transaction of bounded size.
func (d *Dumpster) Redeliver(ctx context.Context, id, db string, since time.Time) (*queue.Request, Outcome, error) {
	return d.redeliver(ctx, id, db, window{since: since})
}

// RedeliverAgo is Redeliver of the copies kept since ago before the
// request's start. The duration is measured from the start of the
// request the id names — for its first call and for every retry — so a
// retry with the same duration names the same window however much later
// it comes (an operator's "--since 1h", retried after a timeout). A
// duration and a time that name the same instant are the same window.
func (d *Dumpster) RedeliverAgo(ctx context.Context, id, db string, ago time.Duration) (*queue.Request, Outcome, error) {
	if ago < 0 {
		return nil, Carried, fmt.Errorf("a negative duration: %s", ago)
	}
	return d.redeliver(ctx, id, db, window{ago: ago, byAgo: true})
}

func (d *Dumpster) redeliver(ctx context.Context, id, db string, w window) (*queue.Request, Outcome, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	now := d.clk.Now()
	var req *queue.Request
	out := Carried
	err := d.store.Update(ctx, func(tx *queue.Tx) error {
		out = Carried
		r, err := tx.Request(id)
		switch {
		case errors.Is(err, queue.ErrDamagedRequest):
			// Set aside (DamagedRequests): how far it got is not known,
			// so it is neither resumed nor started again under its id.
			return fmt.Errorf("%w: request %s is stored, and its record does not decode (%v): it is not resumed, and "+
				"nothing was resubmitted now; to redeliver the window's copies, make the request with a new request id",
				queue.ErrDamagedRequest, id, err)
		case errors.Is(err, queue.ErrNotFound):
			req = &queue.Request{ID: id, Database: db, Since: w.at(now), Started: now, FirstID: tx.NewID(d.clk.Now())}
			return tx.PutRequest(req)
		case err != nil:
			return err
		case r.Database != db || !r.Since.Equal(w.at(r.Started)):
			return queue.Refused(fmt.Errorf("%w: request %s was for database %s, copies kept since %s (%s before its start at %s); "+
				"this one asks for database %s since %s: a retry must repeat the first request's "+
				"parameters, and a new request needs a new request id",
				ErrRequestConflict, id, r.Database, r.Since.UTC().Format(time.RFC3339Nano), r.Started.Sub(r.Since),
				r.Started.UTC().Format(time.RFC3339Nano), db, w))
		}
		req, out = r, Resumed
		if r.Phase == queue.Done {
			out = Repeated
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrRequestConflict) && !errors.Is(err, queue.ErrDamagedRequest) {
		// The commit failed (even one that only read: a full disk).
		// An earlier call may have stored the request.
		var stored *queue.Request
		_ = d.store.View(func(tx *queue.Tx) error { stored, _ = tx.Request(id); return nil })
		switch {
		case stored != nil && stored.Database == db && stored.Since.Equal(w.at(stored.Started)) && stored.Phase == queue.Done:
			return stored, Repeated, nil
		case stored != nil && stored.Database == db && stored.Since.Equal(w.at(stored.Started)):
			return stored, Resumed, d.unfinished(id, err)
		}
		return nil, out, fmt.Errorf("%w: redelivery request %s could not be stored (%v); nothing was resubmitted, "+
			"and nothing will be until the request is made again: repeat it with the same request id once the "+
			"transport database can be written", ErrNotStored, id, err)
	}
	if err != nil || out == Repeated {
		return req, out, err
	}
	d.log.Info("redelivery request", "request_id", id, "database", db, "since", req.Since.Format(time.RFC3339Nano),
		"outcome", out.String())
	if err := d.carryOut(ctx, req); err != nil {
		return req, out, d.unfinished(id, err)
	}
	return req, out, nil
}

// ErrNotStored: a redelivery request's record could not be committed;
// nothing of it was done, and nothing will be unless it is made again.
var ErrNotStored = errors.New("redelivery request not stored")

// ErrUnfinished: a redelivery request was stored and a later commit of
// it failed (a full disk, an I/O error, a stop): what its committed
// steps did holds, and the rest is done at the daemon's next start
// (Run), or by the request made again with the same id (Resumed). A new
// id would be a new request: its window's copies resubmitted again.
var ErrUnfinished = errors.New("redelivery request not finished")

// unfinished is ErrUnfinished for request id, with the progress its
// stored record holds (not the failed step's).
func (d *Dumpster) unfinished(id string, cause error) error {
	progress := "how far it got is unknown (its record cannot be read now)"
	_ = d.store.View(func(tx *queue.Tx) error {
		if r, err := tx.Request(id); err == nil {
			progress = fmt.Sprintf("so far %d duplicate records cleared, %d copies resubmitted", r.Cleared, r.Resubmitted)
			if r.Skipped > 0 {
				progress += fmt.Sprintf(", %d skipped as unreadable", r.Skipped)
			}
		}
		return nil
	})
	return fmt.Errorf("%w: request %s is stored but not finished (%v); %s. The daemon finishes it at its next start, "+
		"if the transport database can be written then, or repeat this request with the same request id once it can: "+
		"a new request id would resubmit the copies of the window a second time", ErrUnfinished, id, cause, progress)
}

// carryOut runs the phases of a stored request to its end, from where it
// got.
func (d *Dumpster) carryOut(ctx context.Context, req *queue.Request) error {
	for req.Phase == queue.Clearing {
		var n int
		var more bool
		err := d.store.Update(ctx, func(tx *queue.Tx) error {
			r, err := tx.Request(req.ID)
			if err != nil {
				return err
			}
			if n, more, err = tx.ClearDelivered(r.Database, r.Since, r.Started, clearBatch); err != nil {
				return err
			}
			r.Cleared += n
			if !more {
				r.Phase = queue.Resubmitting
			}
			*req = *r
			return tx.PutRequest(r)
		})
		if err != nil {
			return err
		}
	}
	for {
		var moved []*queue.Message
		var was []queue.ID // each moved copy's id in the dumpster, for the tracking log
		var skipped []skippedCopy
		var more bool
		single := 0 // moved copies marked held by this server only
		err := d.store.Update(ctx, func(tx *queue.Tx) error {
			moved, was, more, skipped, single = moved[:0], was[:0], false, skipped[:0], 0
			r, err := tx.Request(req.ID)
			if err != nil {
				return err
			}
			var keys []queue.DumpsterKey
			var copies []*queue.Message
			var undecoded []error // parallel to keys: why a copy's record did not decode
			tx.DumpsterScan(r.Database, r.Since, func(e queue.DumpsterEntry) bool {
				if e.Key.KeptAt.After(r.Started) {
					return false
				}
				if e.Key.ID >= r.FirstID {
					return true // delivered after the request began
				}
				if len(keys) == resubmitBatch {
					more = true
					return false
				}
				keys, copies, undecoded = append(keys, e.Key), append(copies, e.Message), append(undecoded, e.Err)
				return true
			})
			now := d.clk.Now()
			for i, k := range keys {
				cp := copies[i]
				if cp == nil || len(cp.Rcpts) == 0 {
					// Its record does not decode, or names no recipient:
					// nothing can be made again from it (PutNew refuses
					// it). It leaves the dumpster counted and named with
					// the copies not resubmitted, as one without content:
					// removed silently, the request's summary took the
					// window as redelivered whole.
					if _, err := tx.DumpsterDelete(k); err != nil {
						return err
					}
					why := "its record names no recipient"
					if cp == nil {
						why = "its record does not decode"
						if undecoded[i] != nil {
							why += ": " + undecoded[i].Error()
						}
					}
					skipped = append(skipped, skippedCopy{id: k.ID.String(), why: why})
					continue
				}
				body, err := tx.DumpsterBodyOf(k) // a spooled copy names its file again: no read
				if err != nil {
					return err
				}
				if cerr := body.Check(); cerr != nil {
					// Its spool file is missing or cut short: a copy with
					// no content is not resubmitted (it would only go to
					// the poison queue); it leaves the dumpster, reported.
					if _, err := tx.DumpsterDelete(k); err != nil {
						return err
					}
					skipped = append(skipped, skippedCopy{id: cp.ID.String(), org: cp.OrgID, why: cerr.Error()})
					continue
				}
				was = append(was, cp.ID)
				cp.ID = tx.NewID(d.clk.Now())
				// A new message for the queue: its age (expiry, delay
				// notices) counts from now, not from the organisation's
				// first arrival; its receipt stays the one the copy
				// kept (Copy), as a release keeps it (Received), so
				// message show, tracking and a DSN's Arrival-Date name
				// when the organisation received it.
				if !cp.Arrived.IsZero() {
					cp.Received, cp.ReceivedEarlier = cp.Arrived, cp.OrgEarlier
				}
				cp.State, cp.Arrived, cp.OrgEarlier, cp.NextAttempt, cp.Size = queue.Ready, now, 0, now, body.Len()
				// The new record's reference is counted before the
				// copy's is dropped: the file is never without one.
				if err := tx.PutNewBody(cp, body); err != nil {
					return err
				}
				if err := tx.MarkRedelivery(cp.ID, r.Scan()); err != nil { // a duplicate-suppressed delivery keeps its copy
					return err
				}
				// On this disk alone now (no shadow server holds it):
				// held by this server only, copied by the holders' pass.
				if ok, err := tx.MarkEnteredSingle(cp, now); err != nil {
					return err
				} else if ok {
					single++
				}
				if _, err := tx.DumpsterDelete(k); err != nil {
					return err
				}
				moved = append(moved, cp)
			}
			r.Resubmitted += len(moved)
			r.Skipped += len(skipped)
			if !more {
				r.Phase = queue.Done
			}
			*req = *r
			return tx.PutRequest(r)
		})
		if err != nil {
			return err
		}
		for i, m := range moved {
			d.ev.Event("resubmit", m, nil, "dumpster redelivery of copy "+was[i].String()+" for database "+req.Database+", request "+req.ID)
		}
		if len(skipped) > 0 {
			d.obs.DumpsterEvicted(req.Database, ReasonUnreadable, len(skipped))
		}
		for _, c := range skipped {
			d.log.Warn("dumpster copy not resubmitted: it is unreadable; removed from the dumpster",
				"request_id", req.ID, "database", req.Database, "msg_id", c.id, "org_id", c.org, "reason", c.why)
		}
		if single > 0 {
			d.log.Warn("redelivered messages held by this server only: their shadow copies are made by the next pass of the shadow-server probe",
				"request_id", req.ID, "database", req.Database, "messages", single)
		}
		if len(moved) > 0 {
			d.obs.DumpsterResubmitted(req.Database, len(moved))
			d.store.Wake()
		}
		if !more {
			d.log.Info("redelivery request done", "request_id", req.ID, "database", req.Database,
				"resubmitted", req.Resubmitted, "skipped_unreadable", req.Skipped, "records_cleared", req.Cleared)
			return nil
		}
	}
}

// resumeRequests finishes requests a crash interrupted.
func (d *Dumpster) resumeRequests(ctx context.Context) {
	var open []*queue.Request
	var damaged []string
	_ = d.store.View(func(tx *queue.Tx) error {
		var all []*queue.Request
		all, damaged = tx.RequestsSplit() // each record decoded once
		for _, r := range all {
			if r.Phase != queue.Done {
				open = append(open, r)
			}
		}
		return nil
	})
	for _, id := range damaged {
		d.log.Error("a stored redelivery request does not decode: set aside, not resumed; make it again with a new request id",
			"request_id", id)
	}
	for _, r := range open {
		err := func() error {
			d.reqMu.Lock()
			defer d.reqMu.Unlock() // a panic of the redelivery does not leave every later request waiting
			return d.carryOut(ctx, r)
		}()
		if err != nil && ctx.Err() == nil {
			d.log.Error("finishing an interrupted redelivery request failed", "request_id", r.ID, "err", err)
		}
	}
}

// skippedCopy is a dumpster copy redelivery left out: its spool file is
// missing or shorter than its record, or its record does not decode or
// names no recipient (org empty then: the record holds it).
type skippedCopy struct{ id, org, why string }

// Selection names dumpster copies (Remove). Every field given must
// match: IDs (the message's queue id when it was delivered, as List
// shows it; in every database unless Database is given), Database, kept
// at or after Since and before Until, From and To (substrings of the
// sender and of a recipient, case-insensitive), MessageID and OrgID
// (exact). A selection with neither IDs nor Database is refused: no
// removal spans every database by accident.
type Selection struct {
	IDs              []queue.ID
	Database         string
	Since, Until     time.Time
	From, To         string
	MessageID, OrgID string
}

// ErrEmptySelection: a Remove that names neither ids nor a database.
var ErrEmptySelection = errors.New("name the copies to remove: message ids, or a database (with a filter)")

func (s Selection) match(e queue.DumpsterEntry) bool {
	if len(s.IDs) > 0 && !slices.Contains(s.IDs, e.Key.ID) {
		return false
	}
	if !s.Until.IsZero() && !e.Key.KeptAt.Before(s.Until) {
		return false
	}
	if s.From == "" && s.To == "" && s.MessageID == "" && s.OrgID == "" {
		return true
	}
	m := e.Message
	if m == nil { // undecodable: only ids, database and time select it
		return false
	}
	if s.From != "" && !strings.Contains(strings.ToLower(m.From), strings.ToLower(s.From)) ||
		s.MessageID != "" && m.MessageID != queue.CutMessageID(s.MessageID) || s.OrgID != "" && m.OrgID != s.OrgID {
		return false
	}
	if s.To != "" {
		to := strings.ToLower(s.To)
		return slices.ContainsFunc(m.Rcpts, func(r queue.Recipient) bool { return strings.Contains(strings.ToLower(r.Addr), to) })
	}
	return true
}

// RemoveError is a removal whose commit failed: the copies removed before
// it are returned beside it; NoCopy are the ids given that matched no
// copy in Remove's scan (the others were found and not removed: the
// failure is theirs, not a missing copy).
type RemoveError struct {
	Err    error
	NoCopy []string
}

func (e *RemoveError) Error() string { return e.Err.Error() }
func (e *RemoveError) Unwrap() error { return e.Err }

// noCopy is the ids of sel that none of the copies selected (scanned)
// carries.
func noCopy(sel Selection, scanned map[string]bool) []string {
	var out []string
	for _, id := range sel.IDs {
		if !scanned[id.String()] {
			out = append(out, id.String())
		}
	}
	return out
}

// Remove deletes the copies sel selects, for good: an operator purging a
// message (one delivered to the wrong mailbox, a confidential one). It
// returns them as listed (with dryRun: what it would remove, removing
// nothing). Each copy leaves in a commit with its body and its spool file
// reference (the file goes with its last reference), at most
// resubmitBatch per transaction; a copy a redelivery request moved to the
// queue meanwhile is not there to remove and is not returned. Removals
// are counted as evictions with reason "removed". Remove and redelivery
// requests take turns, so a request's window never loses a copy halfway.
func (d *Dumpster) Remove(ctx context.Context, sel Selection, dryRun bool) ([]Entry, error) {
	if len(sel.IDs) == 0 && sel.Database == "" {
		return nil, ErrEmptySelection
	}
	sel.Since = queue.StoredTime(sel.Since) // before 1970: every copy (Until is only compared)
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	type found struct {
		key   queue.DumpsterKey
		entry Entry
	}
	var all []found
	err := d.store.View(func(tx *queue.Tx) error {
		all = all[:0]
		dbs := []string{sel.Database}
		if sel.Database == "" {
			dbs = tx.DumpsterDatabases()
		}
		for _, db := range dbs {
			tx.DumpsterScan(db, sel.Since, func(e queue.DumpsterEntry) bool {
				if sel.match(e) {
					all = append(all, found{e.Key, entryOf(db, e)})
				}
				return true
			})
		}
		return nil
	})
	if err != nil || dryRun {
		out := make([]Entry, len(all))
		for i, f := range all {
			out[i] = f.entry
		}
		return out, err
	}
	var out []Entry
	for start := 0; start < len(all); start += resubmitBatch {
		batch := all[start:min(start+resubmitBatch, len(all))]
		var gone []found
		err := d.store.Update(ctx, func(tx *queue.Tx) error {
			gone = gone[:0]
			for _, f := range batch {
				if !tx.DumpsterHas(f.key) {
					continue
				}
				if _, err := tx.DumpsterDelete(f.key); err != nil {
					return err
				}
				gone = append(gone, f)
			}
			return nil
		})
		if err != nil {
			scanned := map[string]bool{}
			for _, f := range all {
				scanned[f.entry.QueueID] = true
			}
			return out, &RemoveError{Err: err, NoCopy: noCopy(sel, scanned)}
		}
		perDB := map[string]int{}
		for _, f := range gone {
			out = append(out, f.entry)
			perDB[f.key.Database]++
		}
		for db, n := range perDB {
			d.obs.DumpsterEvicted(db, ReasonRemoved, n)
		}
	}
	return out, nil
}

// entryOf is a kept copy as List shows it.
func entryOf(db string, e queue.DumpsterEntry) Entry {
	en := Entry{Database: db, QueueID: e.Key.ID.String(), KeptAt: e.Key.KeptAt, Size: e.Size}
	if e.Message != nil {
		en.From, en.MessageID, en.OrgID = e.Message.From, e.Message.MessageID, e.Message.OrgID
		for _, r := range e.Message.Rcpts {
			en.Recipients = append(en.Recipients, r.Addr)
		}
	}
	return en
}

// DamagedRequests names the stored redelivery requests whose record
// does not decode (queue.ErrDamagedRequest): kept as stored, never
// resumed, logged at each start (Run), counted in the metrics
// (umbra_dumpster_damaged_requests); their ids are refused.
func (d *Dumpster) DamagedRequests() []string {
	var out []string
	_ = d.store.View(func(tx *queue.Tx) error { out = tx.DamagedRequests(); return nil })
	return out
}

// DamagedRequestCount is len(DamagedRequests()), for the metrics.
func (d *Dumpster) DamagedRequestCount() int { return len(d.DamagedRequests()) }
