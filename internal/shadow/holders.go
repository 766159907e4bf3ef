package shadow

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"umbra/internal/clock"
	"umbra/internal/panicline"
)

// Holders is the primary's half of a shadow server's lost database (rt23
// NEW-4): it watches the servers that keep shadow copies of the
// messages this server holds — the servers its copies on receipt went
// to, and those it was relayed from in a shadow session — and makes
// again the copies a server lost.
//
// A shadow server that lost its database (a wiped data_dir, a db restore
// of an older backup) comes back with a new transport database id and
// knows nothing of the copies it kept: nothing there heartbeats this
// server for them. So this server asks: every Interval it opens a
// session to each server named by a message still pending here (Probe:
// XSHADOW, whose reply is the server's database id), and the store
// compares the id with the one it met before (HolderStore.HolderSeen;
// sessions for copies on receipt record it too). A new id marks every
// message whose copy was there held by this server only, in the commit
// that records the id; the copies are then made again (Copier.Recopy:
// pushed on receipt to that server or another by the same preference,
// and to the server the copy was lost on after every candidate of the
// preference — an edge, which copies on receipt never go to, is the
// only one an organisation of one hub has) and the marks go. A copy that cannot be made (no shadow server
// answers) leaves its message marked — shown by shadow list and message
// show, counted in the metrics — and is tried again at the next pass;
// the log says once how many are so, and again when the count changes.
// A server that refuses a copy (452 4.3.1 from a full disk) is a failed
// try: Recopy moves on to the next candidate in the same call, and the
// refusal marks that server for copies in destination health, which
// its answered probes do not clear, so the next passes try it last. So
// is a server that does not answer the push in time (hung), or whose
// session ends mid-push (a 421 as it stops, an EOF or reset as it is
// killed; midpush41): Recopy moves on in the same call, and that server,
// which may have stored the copy, gets its discard.
//
// The probe also asks (shadow verbs 12, delivery askDropped) which copies
// the server's operator removed (umbra message remove --force there):
// their messages are marked held by this server only in the commit that
// records the answer, before the session's next command, and this pass
// makes them again like copies of a lost database.
//
// It asks (shadow verbs 23, delivery askKept), after what the server
// finished is recorded, which of the copies this server's pending
// records name there it has no record of: a server whose database file
// was copied back from an older copy keeps its id and lost them. A copy
// missing from two answers a probe interval apart marks its message
// held by this server only, in the commit that reads the second answer,
// and this pass makes it again.
//
// And it asks (shadow verbs 15, delivery askTakenDone) what the server
// finished of the copies it took over from this server's database while
// this server was away (delivered, relayed, failed with its DSN, or its
// delay DSN sent): those recipients are marked done here without a DSN
// (queue takendone.go), before the session's next command. The start
// makes one such probe of every holder before the queue's first delivery
// (AskFirst, bounded), so that an original that expired or fails at
// once is not bounced a second time.
//
// The probe is also this server's contact with a quiet shadow server:
// destination health learns from it that the server answers (or does
// not), so its server:NAME rows follow its real state (rt23 NEW-3).
//
// Holders has a timing loop of its own (Run): it is not a client of the
// scheduler's per-destination windows, as it opens at most one short
// session per holder per Interval, up to probeConcurrency at once, each
// bounded by its own deadline: a holder that hangs (a stopped process)
// delays neither the probes of the others nor, beyond one probe's
// bound, the copies they find lost.
type Holders struct {
	cfg HoldersConfig
	// listLog, singleLog pace the ERRORs of a pass whose listings
	// failed (panicline.Gate.Due): a pass comes every heartbeat
	// timeout, a second at the shortest.
	listLog, singleLog panicline.Gate
	// answeredLog, lostLog pace the ERRORs of a pass whose record of a
	// holder answering again, or taken as lost, failed (a full disk):
	// the pass tries it again each time (rt42 F3, sibling).
	answeredLog, lostLog panicline.Gate

	mu        sync.Mutex
	lastCount int             // marks left after the last pass, for the log
	asked     map[string]bool // holders the start's AskFirst finished asking: the next pass's probe of them
	askedAt   time.Time       // when; a pass later than askedFresh probes them again
	// reached: holders a probe finished asking since this start;
	// unreached: those whose every probe since the start failed, since
	// the first (Unreached, rt30a F2).
	reached   map[string]bool
	unreached map[string]time.Time
	// away: the holders named when this server came back — at the
	// start's first listing (AskFirst, else the first pass) and at the
	// ask after a stall (Ask). Only those held copies while this server
	// was away and may have taken them over; a holder first named later
	// holds only copies made since, so no failed probe of it makes it
	// unreached (rt36 F2: a holder that took its first copy after the
	// start and went down was listed as one that may have delivered
	// messages twice).
	away map[string]bool
	// silent: the holders whose every probe failed (no database id
	// answered) since the first of them, this start; lostSaid: those
	// whose copies were taken as lost for it (LostAfter), told again
	// at their first answer (UnreachableStore).
	silent   map[string]time.Time
	lostSaid map[string]bool
	// lostWarned: those of lostSaid whose WARN was given in this
	// silence (a pass that took copies as lost, not one that found all
	// marked already): copies found later are told at INFO.
	lostWarned map[string]bool
	// stale: the holders heard from this start (HeardStore) but not
	// within the takeover bound, since the first pass that found them
	// so; a pass after that with nothing heard takes their copies as
	// lost.
	stale    map[string]time.Time
	probedAt map[string]time.Time // the last probe a holder answered, this start
	answered map[string]bool      // holders a probe reached this start (unreachedBound)
}

// ErrNotProbeable is a Copier's Probe error for a holder this server
// has no address for (delivery.ErrUnknownServer: no topology, or one
// that does not name it — a send_xshadow connector's next hop keeps the
// copies of messages it relayed here under its own server id). No
// session to it can be opened: a failed probe of it says nothing of
// whether it is up, so it never makes it unreached (Unreached); whether
// it is, is told by its own sessions here (HeardStore: its heartbeats
// and discard queries for the copies it keeps). A Copier outside this
// package says so with an error of its own that has the NotProbeable
// method (delivery.ErrUnknownServer: the delivery package does not
// import this one); ErrNotProbeable is this package's.
var ErrNotProbeable error = notProbeableError{}

// NotProbeable is a Probe error for a holder no probe can be made to
// (ErrNotProbeable).
type NotProbeable interface {
	error
	NotProbeable()
}

type notProbeableError struct{}

func (notProbeableError) Error() string { return "not a server of the topology" }
func (notProbeableError) NotProbeable() {}

// UnprobedHow is implemented by a NotProbeable error that says why no
// probe goes to its holder and what was tried in its stead — no topology
// at all, or none naming it; a hand-over of discards at an address
// recorded for it, or none for want of one —: the WARN of its copies
// taken as lost says that, not a guess (holders49 item 2).
type UnprobedHow interface {
	UnprobedHow() string
}

// unprobedHowDefault is what the WARN says of a holder no probe goes to
// when its error does not say more (UnprobedHow).
const unprobedHowDefault = "no probe goes to it (no topology here, or none that names it); no session of its own completed here"

// unprobedHow is what err says of a holder no probe goes to.
func unprobedHow(err error) string {
	var uh UnprobedHow
	if errors.As(err, &uh) && uh.UnprobedHow() != "" {
		return uh.UnprobedHow() + "; no session of its own completed here"
	}
	return unprobedHowDefault
}

// notProbeable reports whether err says no probe can be made to its
// holder (NotProbeable).
func notProbeable(err error) bool {
	var np NotProbeable
	return errors.As(err, &np)
}

// HoldingRefusal is a Probe error of a holder that answered and refused
// this server's probe (a Refusal: a 5xx to its login or XSHADOW).
// HoldsItsCopies reports whether it presented, before it refused, the
// digest of the transport database its copies were made on (the EHLO's
// XSHADOWDB against the id recorded for it): then it is up with them —
// it takes them over if this server dies —, so they are not lost, and
// the takeover bound never takes them as such (unreachedBound). One that
// presented no digest, or another, may be another host at its address
// (as a refused heartbeat is judged: doc.go), and its silence counts as
// before; the WARN says it refused, with its reply.
type HoldingRefusal interface {
	Refusal
	HoldsItsCopies() bool
}

// HeardStore is implemented by a HolderStore that knows when a server
// last completed a session with this one since its start (its discard
// query, heartbeat, watch session, a probe or relay of its own:
// queue.Manager.ShadowHeard). A holder heard from within the takeover
// bound is up and keeps polling for its copies: when no probe can be
// made to it (ErrNotProbeable) they are not taken as lost
// (unreachedBound), and the bound of one that falls silent starts at its
// last session, not before. A holder a probe can be made to is judged by
// its probes alone.
type HeardStore interface {
	// HolderHeard is when server last completed a session here since
	// this server's start, zero when it did not.
	HolderHeard(server string) time.Time
}

// UnreachedNote is what the views say of a message whose shadow server
// no probe reached since this server's start (Unreached): it could not
// be asked what it finished of the copies it may have taken over while
// this server was away (README, Duplicates after a takeover, window 1).
const UnreachedNote = "holder not reachable since the start: it may have taken this over"

// Unreached returns the holders of messages pending here that no probe
// has reached since this server's start, with the time of the first
// failed probe: each may have taken its copies over while this server
// was away, and delivered them — what it finished cannot be asked until
// it answers (AskFirst). A holder leaves it at its first answered probe.
func (h *Holders) Unreached() map[string]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]time.Time, len(h.unreached))
	for n, t := range h.unreached {
		out[n] = t
	}
	return out
}

// noteProbes records which of names a probe reached since the start
// (errs by position, probeAll's); a probe cut by ctx says nothing.
func (h *Holders) noteProbes(ctx context.Context, names []string, errs []error) {
	now := h.cfg.Clock.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reached == nil {
		h.reached, h.unreached = map[string]bool{}, map[string]time.Time{}
	}
	for i, n := range names {
		switch {
		case errs[i] == nil:
			h.reached[n] = true
			delete(h.unreached, n)
		case ctx.Err() != nil && errors.Is(errs[i], ctx.Err()):
			// never started: not asked, not unreached either
		case notProbeable(errs[i]):
			// no session to it can be opened: its failure says
			// nothing of whether it is up (unreachedBound asks its
			// own sessions here)
		case !h.reached[n] && h.away[n]:
			// Not reached since this server came back — also when
			// this server's own fault ended the probe (LocalFault: a
			// source address it cannot bind, a panic here): that says
			// nothing of the holder (no lost copies for it,
			// unreachedBound; no mark, delivery), but the holder was
			// not asked what it finished of the copies it may have
			// taken over meanwhile either, and those delivered here
			// too arrive twice (Unreached, rt30a F2). ask says whose
			// fault it was.
			if _, ok := h.unreached[n]; !ok {
				h.unreached[n] = now
			}
		}
	}
}

// noteAway adds names to the holders named as this server came back
// (away).
func (h *Holders) noteAway(names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.away == nil {
		h.away = map[string]bool{}
	}
	for _, n := range names {
		h.away[n] = true
	}
}

// askedFresh bounds how long the start's probe of a holder stands for
// the next pass's (AskFirst, then Run's first pass at once): an older
// one is not taken for it.
const askedFresh = 10 * time.Second

// HolderStore is the queue's record of the holders (queue.Manager, via
// package shadowstore).
type HolderStore interface {
	// Holders returns the servers named as keeping a copy of a message
	// pending here, with the number of such messages.
	Holders() (map[string]int, error)
	// SingleCopies returns the messages marked held by this server only,
	// oldest mark first.
	SingleCopies() ([]uint64, error)
}

// UnreachableStore is implemented by a HolderStore that takes the copies
// on a holder as lost once it stays unreachable for the takeover bound
// (queue.Manager.ShadowHolderUnreachable, via shadowstore).
type UnreachableStore interface {
	// HolderUnreachable marks the messages whose copy is on server
	// held by this server only, since since; it returns how many.
	HolderUnreachable(server string, since time.Time) (int, error)
	// HolderAnswered drops those marks of server's copies not made
	// again meanwhile: it answers, and holds them.
	HolderAnswered(server string) (int, error)
}

// RefusingStore is implemented by an UnreachableStore that says, of
// each message whose copy it takes as lost, that the holder refused
// this server's probes (reply, its 5xx) rather than that it was not
// reachable (queue.Manager.ShadowHolderRefusing, via shadowstore).
type RefusingStore interface {
	HolderRefusing(server string, since time.Time, reply string) (int, error)
}

// Copier speaks to the holders (delivery.ReceiptShadow).
type Copier interface {
	// Probe opens a session to server and returns its transport
	// database id, recording it (a new id marks the messages whose
	// copies it lost). It bounds its own time: a holder that takes the
	// connection and never answers holds up its probe for that bound.
	Probe(ctx context.Context, server string) (string, error)
	// Recopy makes the copy of message id again; the server that keeps
	// it, "" when the message needs none any more.
	Recopy(ctx context.Context, id uint64) (string, error)
}

// StaleLister is implemented by a Copier that can name the transport
// servers destination health marks unanswering (delivery.Holders): each
// pass probes them too, and an answer clears the mark.
type StaleLister interface {
	Stale() []string
}

// PredecessorAsker is implemented by a Copier whose database was restored
// from a backup (delivery.Holders): the transport servers that have not
// yet answered this start its question about the copies of the
// database it was restored from (queue restoredhanded.go). The start's
// ask and every pass probe them too, whether they hold copies of this
// server's messages or not; a probe of one that holds none changes
// nothing of the holders' bookkeeping (unreached, lost copies).
type PredecessorAsker interface {
	Unasked() []string
}

// probeUnasked probes the servers PredecessorAsker names that are not
// among holders (those are probed as holders).
func (h *Holders) probeUnasked(ctx context.Context, holders map[string]int) {
	rl, ok := h.cfg.Copier.(PredecessorAsker)
	if !ok {
		return
	}
	var extra []string
	for _, n := range rl.Unasked() {
		if _, dup := holders[n]; !dup {
			extra = append(extra, n)
		}
	}
	if len(extra) == 0 || ctx.Err() != nil {
		return
	}
	for i, err := range h.probeAll(ctx, extra) {
		if err != nil {
			h.cfg.Log.Info("transport server not asked which copies of the database this one was restored from it holds; asked again at the next pass",
				"server", extra[i], "err", err)
		}
	}
}

// HoldersConfig configures Holders.
type HoldersConfig struct {
	Interval time.Duration // between passes; the heartbeat timeout
	// Every, when set, gives the interval at each pass instead
	// (a configuration reload changes the heartbeat timeout).
	Every  func() time.Duration
	Store  HolderStore
	Copier Copier
	// LostAfter, when set, gives the takeover bound
	// (shadow_heartbeat_timeout × shadow_heartbeat_retry_count): a
	// holder no probe reached for that long has its copies taken as
	// lost (UnreachableStore), as the holder takes a primary over after
	// that bound (SR-6). Unset: never.
	LostAfter func() time.Duration
	Clock     clock.Clock
	Log       *slog.Logger
}

// NewHolders returns the watcher of this server's shadow servers.
func NewHolders(cfg HoldersConfig) *Holders {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Holders{cfg: cfg}
}

// maxRecopyPass bounds the copies made again in one pass: a holder that
// lost many copies gets them back over several passes, and a pass never
// runs for long.
const maxRecopyPass = 500

// Probes of one pass run at most probeConcurrency at a time, each
// bounded by the Copier itself (delivery.ReceiptShadow.Probe: the 10 s
// of a try for a copy on receipt). Up to probeConcurrency-1 hung
// holders (3) so delay no probe of a holder that answers; with more,
// each probeConcurrency of them ahead of it delays it by one probe's
// bound. A pass lasts about one bound per probeConcurrency hung
// holders, not one per hung holder.
const probeConcurrency = 4

// Run makes a pass at once and then every Interval, until ctx ends.
func (h *Holders) Run(ctx context.Context) {
	for {
		h.Pass(ctx)
		d := h.cfg.Interval
		if h.cfg.Every != nil {
			d = h.cfg.Every()
		}
		t := h.cfg.Clock.NewTimer(max(d, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// AskFirst probes every holder of a message pending here once, up to
// probeConcurrency at a time, until ctx ends: the queue calls it before
// its first delivery, so that what a holder finished of the copies it
// took over while this server was away (the probe asks it, shadow verbs
// 15) is known before an attempt here delivers or bounces it again. It
// makes no copy again (Pass does, at once after). Its probe of a holder
// whose questions all finished (Probe returned no error) is the next
// pass's, within askedFresh: that pass does not probe it again seconds
// later (a second session and round of questions), and makes again the
// copies the probe found lost. A holder not probed before ctx ended, or
// probed only part way, is the pass's to probe.
func (h *Holders) AskFirst(ctx context.Context) {
	asked := h.ask(ctx, false)
	h.mu.Lock()
	h.asked, h.askedAt = asked, h.cfg.Clock.Now()
	h.mu.Unlock()
}

// Ask is AskFirst for a process that runs on after a stall (queue
// GuardStall): the same probes, but nothing left for the next pass — the
// pass that ran as the process resumed is past, and the next comes an
// interval later, when every holder is probed again.
func (h *Holders) Ask(ctx context.Context) {
	h.ask(ctx, true)
}

// ask probes every holder of a message pending here once, up to
// probeConcurrency at a time, until ctx ends, and returns those whose
// probe finished without an error. After a stall (again), a probe that
// reached a holder before it no longer counts: the holder may have taken
// the copies over while this process did not run, so it is
// unreached until a probe from now on reaches it.
func (h *Holders) ask(ctx context.Context, again bool) map[string]bool {
	holders, err := h.cfg.Store.Holders()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(holders))
	for n := range holders {
		names = append(names, n)
	}
	sort.Strings(names)
	h.noteAway(names)
	if len(names) == 0 {
		h.probeUnasked(ctx, holders)
		return nil
	}
	if again {
		h.mu.Lock()
		for _, n := range names {
			delete(h.reached, n)
		}
		h.mu.Unlock()
	}
	errs := h.probeAll(ctx, names)
	h.noteProbes(ctx, names, errs)
	// After the holders: a server that holds nothing of this one's
	// takes none of their time.
	h.probeUnasked(ctx, holders)
	asked := map[string]bool{}
	var down, unaskable, refused, replies, local []string
	msgs, unaskableMsgs, refusedMsgs, localMsgs := 0, 0, 0, 0
	var localErr error
	h.mu.Lock()
	for i, n := range names {
		var ref Refusal
		if errs[i] == nil {
			asked[n] = true
		} else if _, ok := h.unreached[n]; ok && isLocalFault(errs[i]) {
			// Not asked for a fault of this server's: said as such,
			// not as a holder not reachable.
			local = append(local, n)
			localMsgs += holders[n]
			localErr = errs[i]
		} else if _, ok := h.unreached[n]; ok && errors.As(errs[i], &ref) {
			// It answered and refused: up, but not to be asked — not
			// "not reachable" (rt39 F3), its reply says why.
			refused = append(refused, n)
			refusedMsgs += holders[n]
			if !slices.Contains(replies, ref.Refusal()) {
				replies = append(replies, ref.Refusal())
			}
		} else if _, ok := h.unreached[n]; ok {
			down = append(down, n)
			msgs += holders[n]
		} else if notProbeable(errs[i]) {
			unaskable = append(unaskable, n)
			unaskableMsgs += holders[n]
		}
	}
	h.mu.Unlock()
	if len(unaskable) > 0 {
		h.cfg.Log.Info("shadow servers this server has no address for (no topology names them) cannot be asked what they finished of copies they took over: after an absence of this server longer than their takeover bound, what they delivered meanwhile is delivered here again",
			"shadow_servers", strings.Join(unaskable, ","), "messages", unaskableMsgs)
	}
	if len(refused) > 0 {
		h.cfg.Log.Warn("shadow servers refused: "+refusedWhy(replies)+"; they may have taken over and delivered copies of messages held here while this server was away, and cannot be asked what they finished; delivered here too, those arrive twice (umbra shadow single, umbra message show)",
			"shadow_servers", strings.Join(refused, ","), "messages", refusedMsgs, "reply", strings.Join(replies, " | "))
	}
	if len(local) > 0 {
		h.cfg.Log.Error("shadow servers not asked since the start, for a fault of this server's (the error says what to fix; a probe that reaches them asks them): they may have taken over and delivered copies of messages held here while this server was away; delivered here too, those arrive twice (umbra shadow single, umbra message show)",
			"shadow_servers", strings.Join(local, ","), "messages", localMsgs, "err", localErr)
	}
	if len(down) > 0 {
		h.cfg.Log.Warn("shadow servers not reachable since the start: they may have taken over and delivered copies of messages held here while this server was away, and cannot be asked what they finished; delivered here too, those arrive twice (umbra shadow single, umbra message show)",
			"shadow_servers", strings.Join(down, ","), "messages", msgs)
	}
	return asked
}

// refusedWhy says why holders refused this server's probes, from their
// replies: that this server is not a server of their topology (umbra's
// XSHADOW check, package smtp bindServerID: their topology was reloaded
// without it), or that they refuse its shadow session.
func refusedWhy(replies []string) string {
	for _, r := range replies {
		if !strings.Contains(r, "not a server of the organisation") {
			return "they refuse this server's shadow session"
		}
	}
	return "not a server of their organisation's topology (reloaded without this server?)"
}

// Pass probes every holder once and makes again the copies of the
// messages marked held by this server only (at most maxRecopyPass). It
// returns the number of marks left.
func (h *Holders) Pass(ctx context.Context) int {
	holders, err := h.cfg.Store.Holders()
	if err != nil {
		h.logPaced(&h.listLog, "listing the shadow servers of queued messages failed", err)
		return -1
	}
	names := make([]string, 0, len(holders))
	for n := range holders {
		names = append(names, n)
	}
	h.mu.Lock()
	first := h.away == nil
	h.mu.Unlock()
	if first {
		h.noteAway(names) // no AskFirst before: this pass is the start's listing
	}
	if sl, ok := h.cfg.Copier.(StaleLister); ok {
		// Servers marked unanswering that hold nothing for this one:
		// probed as well, so that a quiet peer's mark goes once it
		// answers (rt23 NEW-3), at most once a pass.
		for _, n := range sl.Stale() {
			if _, dup := holders[n]; !dup {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	h.mu.Lock()
	asked := h.asked
	if h.cfg.Clock.Now().Sub(h.askedAt) > askedFresh {
		asked = nil // not the start's ask of this pass: a pass an interval later, or after a long start
	}
	h.asked = nil
	h.mu.Unlock()
	if len(asked) > 0 {
		// The first pass after AskFirst: the holders it reached are
		// probed already.
		probe := names[:0:0]
		for _, n := range names {
			if !asked[n] {
				probe = append(probe, n)
			}
		}
		names = probe
	}
	errs, dbs := h.probeAllDB(ctx, names)
	h.noteProbes(ctx, names, errs)
	h.probeUnasked(ctx, holders)
	if ctx.Err() != nil {
		return -1
	}
	h.unreachedBound(names, holders, dbs, errs, asked)
	for i, n := range names {
		if errs[i] != nil {
			h.cfg.Log.Debug("shadow server probe did not finish (not reached, or its questions cut)", "shadow_server", n, "copies", holders[n], "err", errs[i])
		}
	}
	ids, err := h.cfg.Store.SingleCopies()
	if err != nil {
		h.logPaced(&h.singleLog, "listing the messages held by this server only failed", err)
		return -1
	}
	// failed: copies tried and not made (lastErr the last reason);
	// later: marks beyond this pass's bound, not tried — no failure, the
	// next passes make them.
	made, failed, later := 0, 0, 0
	var lastErr error
	for i, id := range ids {
		if ctx.Err() != nil {
			return -1
		}
		if i >= maxRecopyPass {
			later = len(ids) - i
			break
		}
		srv, err := h.cfg.Copier.Recopy(ctx, id)
		switch {
		case err != nil:
			failed++
			lastErr = err
		case srv != "":
			made++
			if h.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
				h.cfg.Log.Debug("shadow copy made again", "msg_id", idString(id), "shadow_server", srv)
			}
		}
	}
	if made > 0 {
		h.cfg.Log.Info("shadow copies made again", "messages", made)
	}
	left := failed + later
	h.mu.Lock()
	changed := left != h.lastCount
	h.lastCount = left
	h.mu.Unlock()
	switch {
	case changed && failed > 0:
		h.cfg.Log.Warn("messages held by this server only: their shadow copies could not be made again", "messages", failed, "err", lastErr,
			"not_tried_this_pass", later)
	case changed && later > 0:
		// Not a failure: a pass makes at most maxRecopyPass copies.
		h.cfg.Log.Info("messages held by this server only: their shadow copies are made again by the next pass (at most "+
			strconv.Itoa(maxRecopyPass)+" a pass)", "messages", later)
	case changed:
		h.cfg.Log.Info("every message held here has its shadow copy again")
	}
	return left
}

// logPaced writes msg at ERROR with err unless g wrote one less than a
// minute ago; the next line says how many were left out. attrs go
// before err.
func (h *Holders) logPaced(g *panicline.Gate, msg string, err error, attrs ...any) {
	left, ok := g.Due(h.cfg.Clock.Now())
	if !ok {
		return
	}
	attrs = append(attrs, "err", err)
	if left > 0 {
		attrs = append(attrs, "suppressed", left)
	}
	h.cfg.Log.Error(msg, attrs...)
}

// probeAll probes the servers names, up to probeConcurrency at once,
// each bounded by the Copier (Copier.Probe), and returns when every
// probe has ended, with each one's error (by position): ctx's for a
// server not probed before ctx ended. Each probe
// records what it met in the store itself (Copier.Probe), in a commit
// of its own; the pass reads the marks only after all of them.
func (h *Holders) probeAll(ctx context.Context, names []string) []error {
	errs, _ := h.probeAllDB(ctx, names)
	return errs
}

// probeAllDB is probeAll that returns, by position too, the database id
// each holder answered ("" for none: not reached).
func (h *Holders) probeAllDB(ctx context.Context, names []string) ([]error, []string) {
	errs := make([]error, len(names))
	dbs := make([]string, len(names))
	sem := make(chan struct{}, probeConcurrency)
	var wg sync.WaitGroup
	for i, n := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < len(names); j++ {
				errs[j] = ctx.Err() // never started: not asked
			}
			wg.Wait()
			return errs, dbs
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dbs[i], errs[i] = h.cfg.Copier.Probe(ctx, n) // bounded by the Copier (ReceiptShadow: receiptTry)
		}()
	}
	wg.Wait()
	return errs, dbs
}

// idString is a message id as the queue prints it (16 hex digits).
func idString(id uint64) string {
	const hexd = "0123456789ABCDEF"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexd[id&15]
		id >>= 4
	}
	return string(b[:])
}

// unreachedBound takes as lost the copies on a holder of names (those
// holders names, with copies) no probe reached (dbs[i] "": no database
// id answered) since a time older than the takeover bound (LostAfter),
// and gives them back to a holder that answers again (asked: the
// start's probes, which answered). The bound starts at the first probe
// that failed in this process. A holder no probe can be made to
// (errs[i] ErrNotProbeable: without a topology, or one that does not
// name it) answers when heard from within the bound (HeardStore), and
// its bound starts at its last session here: its heartbeats are the
// only sign it is up. A holder the topology names answers by a probe
// only — its sessions here do not say it still holds its copies. A
// probe ended by this server's own fault (LocalFault) counts neither
// way.
func (h *Holders) unreachedBound(names []string, holders map[string]int, dbs []string, errs []error, asked map[string]bool) {
	us, ok := h.cfg.Store.(UnreachableStore)
	if !ok || h.cfg.LostAfter == nil {
		return
	}
	bound := h.cfg.LostAfter()
	now := h.cfg.Clock.Now()
	var lost, back []string
	var since []time.Time
	unprobed := map[string]string{} // of lost: no probe could be made to it, and how it stands (its WARN says so)
	h.mu.Lock()
	if h.silent == nil {
		h.silent, h.lostSaid, h.answered = map[string]time.Time{}, map[string]bool{}, map[string]bool{}
		h.lostWarned = map[string]bool{}
		h.stale, h.probedAt = map[string]time.Time{}, map[string]time.Time{}
	}
	answered := func(n string) {
		// Once per start, and after its copies were taken as lost:
		// the marks of a holder that holds its copies go.
		if h.lostSaid[n] || !h.answered[n] {
			back = append(back, n)
		}
		delete(h.silent, n)
		delete(h.stale, n)
		delete(h.lostSaid, n)
		delete(h.lostWarned, n)
		h.answered[n] = true
	}
	for n := range asked {
		answered(n)
	}
	hs, _ := h.cfg.Store.(HeardStore)
	refusedReply := map[string]string{} // of lost: the holder answered and refused, with this reply
	for i, n := range names {
		if dbs[i] != "" {
			h.probedAt[n] = now
			answered(n)
			continue
		}
		var hr HoldingRefusal
		if errors.As(errs[i], &hr) && hr.HoldsItsCopies() {
			// It answered with the database its copies were made on,
			// and refused this server: up and holding them (it takes
			// them over if this server dies) — not lost, and its
			// discards stay owed to it (holders49 item 1).
			h.probedAt[n] = now
			answered(n)
			continue
		}
		if holders[n] == 0 {
			continue // holds nothing for this server
		}
		if isLocalFault(errs[i]) {
			// This server's own fault ended the probe (a source address
			// it cannot bind, a panic here): it says nothing of whether
			// the holder is up, so its silence neither starts nor ends
			// the bound here. Counted, every holder of every message
			// was taken as lost at the bound, WARNed "not reachable"
			// while it ran.
			continue
		}
		var heard time.Time
		if hs != nil && notProbeable(errs[i]) {
			// Only for a holder no probe can be made to. One the
			// topology names is known to hold its copies by a probe
			// alone (its database id, what it kept and dropped): its
			// sessions here say it runs, not that it still holds them
			// — wiped, restored or rolled back, it heartbeats all the
			// same.
			heard = hs.HolderHeard(n)
		}
		if !heard.IsZero() && (bound <= 0 || now.Sub(heard) < bound) {
			// It completed a session here within the bound (its
			// heartbeat or discard query for the copies it keeps,
			// which no probe can ask without its address): it is up,
			// and holds them.
			answered(n)
			continue
		}
		t, ok := h.silent[n]
		if !ok {
			h.silent[n] = now // the first failed probe
		}
		if !heard.IsZero() {
			// Heard from this start, not within the bound. The first
			// pass that finds it so only notes it: after a stall of
			// this process (nothing was heard while it did not run)
			// the holder's next session comes within a heartbeat, and
			// a pass later it is lost only if none came.
			if s, seen := h.stale[n]; !seen || heard.After(s) {
				h.stale[n] = now
				continue
			}
			at := heard // silent since its last session here
			if p := h.probedAt[n]; p.After(at) {
				at = p // or its last probe answered, when later
			}
			lost = append(lost, n)
			since = append(since, at)
			unprobed[n] = unprobedHow(errs[i]) // heard is read only for a holder no probe can be made to
			continue
		}
		if ok && bound > 0 && now.Sub(t) >= bound {
			lost = append(lost, n)
			since = append(since, t)
			if notProbeable(errs[i]) {
				unprobed[n] = unprobedHow(errs[i])
			}
			if ref := Refusal(nil); errors.As(errs[i], &ref) {
				refusedReply[n] = ref.Refusal()
			}
		}
	}
	h.mu.Unlock()
	for _, n := range back {
		if _, err := us.HolderAnswered(n); err != nil {
			h.logPaced(&h.answeredLog, "recording that a shadow server answers again failed", err, "shadow_server", n)
		}
	}
	rs, _ := us.(RefusingStore)
	for i, n := range lost {
		var m int
		var err error
		if reply, ok := refusedReply[n]; ok && rs != nil {
			m, err = rs.HolderRefusing(n, since[i], reply) // each message's WARN says it refused
		} else {
			m, err = us.HolderUnreachable(n, since[i])
		}
		if err != nil {
			h.logPaced(&h.lostLog, "taking the copies on an unreachable shadow server as lost failed", err, "shadow_server", n)
			continue
		}
		h.mu.Lock()
		said := h.lostWarned[n]
		h.lostSaid[n] = true
		if m > 0 {
			// Warned at the first pass that took copies as lost in
			// this silence, not at one that found all marked already
			// (rr rrmix39).
			h.lostWarned[n] = true
		}
		h.mu.Unlock()
		if m > 0 && said {
			// Taken as lost already in this silence: more of its
			// copies found (made there before their mark, or on
			// receipt since) are told, the state unchanged — not a
			// WARN at every pass that finds one (rr recopy39).
			what := "more messages whose copy is on a shadow server not reachable for the takeover bound are held by this server only"
			if _, ok := refusedReply[n]; ok {
				what = "more messages whose copy is on a shadow server that refused this server's probes for the takeover bound (without presenting the database its copies were made on) are held by this server only"
			}
			h.cfg.Log.Info(what, "shadow_server", n, "unreachable_since", since[i].UTC().Format(time.RFC3339), "messages", m)
		} else if m > 0 {
			attrs := []any{"shadow_server", n, "unreachable_since", since[i].UTC().Format(time.RFC3339), "messages", m}
			if reply, ok := refusedReply[n]; ok {
				// It answered, and refused: not "not reachable". Without
				// the digest of the database its copies were made on
				// (HoldingRefusal) it may be another host at its
				// address, so its copies are taken as lost all the same.
				attrs = append(attrs, "reply", reply)
				h.cfg.Log.Warn("shadow server refused this server's probes for the takeover bound without presenting the transport database its copies were made on (another host at its address, or a new database): the messages whose copy it holds are held by this server only, their copies made again on another shadow server (umbra shadow single)", attrs...)
				continue
			}
			if how, ok := unprobed[n]; ok {
				// Not a failed probe: none goes to a server the topology
				// does not name, nor to any without one (sites48 F2).
				// What was the case is said (UnprobedHow).
				attrs = append(attrs, "how", how)
			}
			h.cfg.Log.Warn("shadow server not reachable for the takeover bound: the messages whose copy it holds are held by this server only, their copies made again on another shadow server (none without a topology; umbra shadow single)", attrs...)
		}
	}
}
