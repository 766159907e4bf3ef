package delivery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// openShadow makes the session a shadow session when this server shadows
// and the peer offers XSHADOW; the peer is then the primary, named by hop.
// Waiting for the XSHADOW reply is the next hop's time, as connecting is
// (queue/peerwait.go).
//
// It returns a reply ("" none) when the message must not go over this
// session: the primary presented a transport database id this server
// keeps as another server's (a copy of another's data dir, rt24a F1).
// Every contact of that server is refused here, so its discard for a
// copy made now would never be applied: the copy would be taken over —
// at once when the server's stored id is another (the commit judges the
// copy's database, shadowTransitions), else at its expiry — while the
// server delivers its original: a duplicate. The caller quits the
// session and tries the hop's next server; the server is marked in
// destination health (refusedKey) and tried last until a session of it
// is let in again.
//
// taken says the message carries a copy taken over from a primary
// (queue.TakenOverIn). A transport server of the topology that refuses
// its shadow session because it takes this server's database id for
// another server's (a copy of this server's data dir presents it as its
// own: "Database id … is another server's here") gets no such copy
// either (rt27a F1): the copy would be the clone's alone, its discards
// never reaching this server. It is marked refusedKey as above and the
// caller tries the hop's next server, or the copy waits. Any other
// refusal (a server running with shadow redundancy off, no right to the
// shadow verbs) or a session broken at XSHADOW relays the copy plainly
// (shfix27 F1: blocking them left a dead primary's mail undeliverable
// through its only, healthy route): plain reports it, and the caller
// names the server in the results (queue.Result.RelayedTo), so the
// primary, back with its database, is told the recipient was relayed
// (queue takendone.go: TakenRelayed) and does not deliver its original.
func (d *Deliverer) openShadow(ctx context.Context, st *state, c *smtp.Client, primary string, taken bool) (refused string, plain bool) {
	if st.cfg.ShadowServerID == "" || c.ShadowDB != "" {
		return "", false
	}
	watchMarks(st, c, primary)
	d.presentTo(st, c, primary)
	// The XSHADOW reply waits under the message's expiry and the stop,
	// as the session's opening does (expiryopen.go): either closes the
	// session, and the caller answers the recipients (shadowOpeningCut).
	octx, opened := untilExpiry(ctx)
	defer opened()
	cut := context.AfterFunc(octx, func() { c.Close() })
	defer cut()
	waited := queue.AwaitingPeer(ctx)
	db, err := c.Shadow(st.cfg.ShadowServerID)
	waited()
	offered := !errors.Is(err, smtp.ErrNoShadow)
	if !offered {
		if !transportServerOf(st, primary) {
			return "", false // a non-shadow next hop (SR-10): deliver and forget
		}
		// A hub or edge of the topology that offers no XSHADOW to this
		// server refuses the shadow session (it does not take this
		// connection for this server's: it comes from an address that
		// is neither its topology address nor one of its
		// source_addresses, or the connector grants no accept-xshadow):
		// the relay would go on without a copy, silently. The verb is
		// asked anyway: the next hop's answer says why, and the refusal
		// is logged, counted and shown as any other.
		waited := queue.AwaitingPeer(ctx)
		db, err = c.ShadowUnoffered(st.cfg.ShadowServerID)
		waited()
	}
	if err != nil && octx.Err() != nil {
		return "", false // closed at the expiry or the stop, not the next hop's refusal
	}
	if err != nil {
		// The message goes on without a copy here: an operator must
		// see a next hop that refuses this server's shadow session (no
		// login, no right to the shadow verbs) — at WARN with its whole
		// reply, paced and counted by the shadow recorder as the other
		// refusals are (shadow list shows the primary refused).
		// The digest the next hop advertised goes with it: a primary
		// copies are held for that came back with a new database is
		// taken over now, and only one presenting the digest copies
		// were made against is shown as that primary refusing
		// (shadow.Recorder.SessionRefused).
		var ref *refusedError
		errors.As(refusalIn(err, c), &ref)
		if rerr := (*gosmtp.SMTPError)(nil); ref == nil && !offered && errors.As(err, &rerr) {
			ref = &refusedError{reply: rerr, err: err, digest: c.PeerDatabaseDigest()} // a 4xx to the unoffered verb refuses it too
		}
		if ref != nil {
			warn := true
			if r, ok := st.cfg.Shadows.(RefusalRecorder); ok {
				warn = r.SessionRefused(primary, "relay", ref.Refusal(), ref.DatabaseDigest())
			}
			if taken && transportServerOf(st, primary) && takesThisDatabaseForAnother(ref.Refusal()) {
				// Marked for every relay and every view (queue
				// destinations: server:refused:NAME), logged at WARN as
				// any refusal of the session (paced above). The reply
				// is 4.7.0: the next hop answered, and its refusal of
				// this server is no failure of the destination
				// (queue feedback counts 4.4.x toward its death).
				d.health.Unresponsive(time.Now(), "shadow session refused: "+ref.Refusal(), refusedKey(primary))
				if warn {
					d.log.Warn("shadow session refused; a taken-over copy is not relayed without it", "primary", primary, "reply", ref.Refusal())
				}
				return "451 4.7.0 Not relayed to " + primary + ": it refused the shadow session, taking this server's transport database for another server's (" + ref.Refusal() +
					"), and a copy taken over goes to such a server only with a shadow copy here", false
			}
			if warn {
				d.log.Warn("shadow session refused; relaying without it (no shadow copy here)", "primary", primary, "reply", ref.Refusal())
			}
			return "", true
		}
		d.log.Info("shadow session failed; relaying without it", "primary", primary, "err", err)
		return "", true
	}
	if why := d.statedOther(st, c, primary); why != "" {
		return why, false
	}
	c.SetHop(primary)
	if st.cfg.Shadows != nil {
		err := st.cfg.Shadows.Presented(primary, db, 0, nil)
		var other interface{ AnotherServersDatabase() bool }
		if errors.As(err, &other) {
			// The shadow recorder counted, logged and keeps the refusal
			// (shadow list: refused).
			d.health.Unresponsive(time.Now(), "contact refused here: "+err.Error(), refusedKey(primary))
			// 4.7.0: this server refuses the next hop, which answered;
			// no failure of the destination (queue feedback).
			return "451 4.7.0 Not relayed to " + primary + ": " + err.Error() +
				" (its contacts are refused here, so a shadow copy of it could never be confirmed)", false
		}
		if err == nil && db != "" {
			d.health.Responsive(refusedKey(primary))
			noteDigest(st, primary, db, c)
		}
	}
	return "", false
}

// noteDigest tells the shadow recorder (DigestNoter) whether primary,
// whose XSHADOW reply carried dbID that was saved, advertised its
// database digest: every session that gets so far — relay, watch,
// heartbeat — since a busy primary's relays are its contacts and no
// heartbeat falls due while they go on, so only they see it upgraded
// (or of an earlier release).
func noteDigest(st *state, primary, dbID string, c *smtp.Client) {
	if n, ok := st.cfg.Shadows.(DigestNoter); ok && dbID != "" {
		n.SessionDigest(primary, dbID, c.PeerDatabaseDigest())
	}
}

// skippedWhy is the log line of a next hop server a relay skipped for
// openShadow's refusal why: who refused whom.
func skippedWhy(why string) string {
	if strings.Contains(why, "its contacts are refused here") {
		return "next hop server skipped: this server refuses its contacts (it presents a transport database id kept here as another server's)"
	}
	if strings.Contains(why, statedOtherWords) {
		return "next hop server skipped: it " + statedOtherWords + " (no shadow copy here would be matched by its discards)"
	}
	return "next hop server skipped: it refused this server's shadow session, taking this server's transport database for another server's (no taken-over copy goes to it)"
}

// takesThisDatabaseForAnother reports whether a next hop's refusal of
// the shadow session says this server's transport database id is
// another server's there (smtp verbs.go: "550 5.7.1 Database id … is
// another server's here; nothing changed"): it runs a copy of this
// server's data dir, or this server one of another's.
func takesThisDatabaseForAnother(reply string) bool {
	return strings.Contains(reply, " is another server's here")
}

// shadowOpeningCut is the recipients' results when the message's
// expiry or the stop came while the session opened its shadow session
// (openShadow closed it then, or it is too late to begin the
// transaction): expired unsent, or stopped — nothing of the message
// was sent. nil when neither came.
func shadowOpeningCut(ctx context.Context, c *smtp.Client, hop string, rcpts []int) []queue.Result {
	switch {
	case queue.PastExpiry(ctx):
		c.Close()
		return expiredUnsent(rcpts)
	case ctx.Err() != nil:
		c.Close()
		return deferAll(rcpts, hop, stopped("the shadow session's opening at "+hop))
	}
	return nil
}

// refusedKey is the destination health key of a transport server whose
// contacts this server refuses (openShadow, Heartbeat): it presents a
// database id kept here as another server's. Its relays go to the
// hop's other servers first (orderOrg, hopDown); its own session is
// refused at XSHADOW all the same.
func refusedKey(name string) string { return RefusedKeyPrefix + name }

// RefusedKeyPrefix starts refusedKey's keys (queue destinations lists
// them as server:refused:NAME).
const RefusedKeyPrefix = smtp.RefusedPeerKeyPrefix

// presentTo makes the next Shadow of c, a session to primary, present
// this server's database id and the rollback mark kept for primary, on
// every session this server opens to a primary — its relays, and its
// heartbeats, watch and reconciliation sessions — so that the primary
// records the database this server keeps copies in before anything
// else of the session: a relay's commit naming this server never takes
// a copy kept under a new database (after a db restore or a lost
// data_dir) for one lost with the old one, and a primary that holds
// messages this server relayed or copies it pushed hears of a new
// database from the first session, not only from the next relay.
// The mark presented with it is the one kept for the primary: a server
// of the topology by its name; a host of a send connector
// (send_xshadow), named by its host name, by the database digest it
// advertised — found among the servers this server met, it is that
// server's mark; not found, none is presented (a 0 could read as a
// rollback there).
func (d *Deliverer) presentTo(st *state, c *smtp.Client, primary string) {
	r := d.presenter.Load()
	if r == nil {
		return
	}
	if st.cfg.Topology != nil && inTopology(st, primary) {
		r.presentMark(c, primary)
	} else {
		r.presentMarkByDigest(c)
	}
}

// inTopology: name is a server of the topology (st has one).
func inTopology(st *state, name string) bool {
	_, ok := st.cfg.Topology.Server(name)
	return ok
}

// transportServerOf reports whether name is a hub or edge of this
// server's topology: a next hop inside the organisation that keeps
// shadow copies and opens shadow sessions.
// healthName is the name a primary's destination health marks are kept
// under: the topology's spelling of it, which the relays (openShadow,
// the hop), orderOrg and the receive side (smtp topologyName) key by;
// else name as given. The shadow manager names a primary as the queue
// keeps it, folded (queue/primaryfold.go): "hub-c" for the topology's
// "Hub-C".
func healthName(st *state, name string) string {
	if st.cfg.Topology != nil {
		if s, ok := st.cfg.Topology.Server(name); ok {
			return s.Name
		}
	}
	return name
}

func transportServerOf(st *state, name string) bool {
	if st.cfg.Topology == nil {
		return false
	}
	s, ok := st.cfg.Topology.Server(name)
	return ok && (s.Role == routing.RoleHub || s.Role == routing.RoleEdge)
}

// RefusalRecorder is the part of Shadows that records a refused shadow
// session (shadow.Recorder.SessionRefused): counted by kind ("relay",
// "receipt"), judged by the database digest the peer advertised (a new
// one takes the copies held for it over; the one copies were made
// against makes it a primary refusing this server, shown in shadow
// list), and whether its WARN is due (paced per peer and kind).
type RefusalRecorder interface {
	SessionRefused(peer, session, reply, digest string) (warn bool)
}

// sessionContacts is Contact and Presented on a session let in at a
// known time (shadow.Manager): a session kept in the pool since before
// the primary began to refuse this server ends no refusal (rt30a F3).
type sessionContacts interface {
	ContactOn(primary, dbID string, mark uint64, discards []string, opened time.Time) error
	PresentedOn(primary, dbID string, mark uint64, discards []string, opened time.Time) error
}

// queryDiscardsEvery bounds how often a busy shadow session asks for
// discards (SR-3: during and at the end of sessions with a primary).
const queryDiscardsEvery = time.Second

// queryDiscards asks the primary of a shadow session for its discard
// notifications (at most once per queryDiscardsEvery).
// Each batch is committed before the next command goes out (the next
// XQUERYDISCARD, the session's next MAIL, QUIT): that command is the
// primary's proof that this server has it, and the primary forgets it
// then (SR-15). A full batch is saved as Presented before the next one
// is asked for, the last as the Contact. A save that failed closes the
// connection without another command: the primary sends the batch again.
func (d *Deliverer) queryDiscards(st *state, c *smtp.Client, primary string) {
	if st.cfg.Shadows == nil || time.Since(c.LastQuery) < queryDiscardsEvery {
		return
	}
	c.LastQuery = time.Now()
	for i := 0; i < 100; i++ {
		ids, err := c.QueryDiscard(1000)
		if err != nil {
			d.log.Info("XQUERYDISCARD failed", "primary", primary, "err", err)
			return // the batches read are saved already
		}
		on, since := st.cfg.Shadows.(sessionContacts)
		switch {
		case len(ids) < 1000 && since:
			err = on.ContactOn(primary, c.ShadowDB, c.DiscardMark, ids, c.ShadowAt)
		case len(ids) < 1000:
			err = st.cfg.Shadows.Contact(primary, c.ShadowDB, c.DiscardMark, ids)
		case since:
			err = on.PresentedOn(primary, c.ShadowDB, c.DiscardMark, ids, c.ShadowAt)
		default:
			err = st.cfg.Shadows.Presented(primary, c.ShadowDB, c.DiscardMark, ids)
		}
		if err != nil {
			c.Close() // not one more command: the primary keeps the batch
			return
		}
		if len(ids) < 1000 {
			return
		}
	}
}

// endSession closes a pooled connection. On a shadow session it first
// asks the primary for its discard notifications: at the end of every
// session with a primary (SR-3), not only at most once a second during
// it, so that copies do not wait for the next heartbeat.
func (d *Deliverer) endSession(c *smtp.Client) {
	defer func() { // panics.go: often on a goroutine of its own (pool.go)
		if r := recover(); r != nil {
			d.recovered(PanicShadow, r, "next_hop", c.Hop())
			c.Close()
		}
	}()
	if c.ShadowDB != "" {
		c.LastQuery = time.Time{}
		d.queryDiscards(d.st.Load(), c, c.Hop())
	}
	c.QuitBounded() // its reply awaited briefly, not a command timeout (rt41 F4)
}

// Heartbeat opens a session to a primary only to ask for its discard
// notifications (SR-5, W-5): EHLO, STARTTLS and AUTH as the send
// connector the copies went through does (addr is "host:port" or
// "host:port via CONNECTOR"), XSHADOW, XQUERYDISCARD…, QUIT, each step
// bounded by ctx and the command timeout.
func (d *Deliverer) Heartbeat(ctx context.Context, primary, addr string, save func(dbID string, mark uint64, discards []string, contact bool) error) (err error) {
	defer d.recoverErr(PanicShadow, &err, "primary", primary) // panics.go
	hostAddr, _, _ := strings.Cut(addr, " via ")
	hk := healthName(d.st.Load(), primary) // the marks relays read (healthName)
	saveFailed := false
	err = d.heartbeat(ctx, primary, addr, func(dbID string, mark uint64, discards []string, contact bool) error {
		err := save(dbID, mark, discards, contact)
		saveFailed = err != nil
		return err
	})
	var refused *refusedError
	switch {
	case saveFailed:
		// This server's store failed, or refused the contact: the
		// primary answered. A contact refused for another server's
		// database id marks it for relays (openShadow).
		var other interface{ AnotherServersDatabase() bool }
		if errors.As(err, &other) {
			d.health.Unresponsive(time.Now(), "contact refused here: "+err.Error(), refusedKey(hk))
		}
	case localFault(err):
		// This server's own fault (a source address it cannot bind, a
		// panic here): nothing was learnt of the primary, which is not
		// marked for deliveries either.
	case errors.As(err, &refused) && (refused.DatabaseDigest() != "" || earlierRelease(d.st.Load(), primary)):
		// A transport server answered and refused the session: it is
		// alive. One without a database digest may be anything at the
		// primary's address: the shadow manager counts its refusal as a
		// failed heartbeat (shadow doc.go: Judging a refusal), and so
		// does destination health, below — unless a completed session
		// proved the primary of an earlier release, which advertises
		// none (shadow earlierrelease.go): its refusal is its own.
		d.health.Responsive(hk, hostAddr)
	case err != nil && cutByOwnStop(ctx):
		// This server's stop (or its caller's end) cut the heartbeat:
		// no evidence about the primary, which did nothing wrong and is
		// not marked for deliveries (rcpt47 item 3). Its bound run out
		// (a deadline) is the primary's silence, below.
	case err != nil:
		// Deliveries try other servers first from now on (SR-16).
		d.health.Unresponsive(time.Now(), err.Error(), hk, hostAddr)
	default:
		d.health.Responsive(hk, hostAddr, refusedKey(hk))
	}
	return err
}

// cutByOwnStop reports whether ctx, a session's context, ended by its
// caller's cancel — this server stopping, a run ended — rather than by a
// bound run out: a deadline (context.WithTimeout), or a cancel whose
// cause is one (the shadow manager's heartbeat bound,
// shadow.ErrHeartbeatBound, wraps context.DeadlineExceeded). A session
// so cut says nothing about its peer.
func cutByOwnStop(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded) && !errors.Is(context.Cause(ctx), errTryBound)
}

func (d *Deliverer) heartbeat(ctx context.Context, primary, addr string, save func(dbID string, mark uint64, discards []string, contact bool) error) error {
	st := d.st.Load()
	c, err := d.dialPrimary(ctx, st, primary, addr)
	if err != nil {
		return boundCut(ctx, "connection, greeting and login", refusal(err))
	}
	defer c.Close()
	noted := false
	var steps heartbeatSteps // the step in flight, and the one the bound cut
	var saveErr error
	err = refusalIn(d.queryAll(ctx, st, c, &steps, func(dbID string, mark uint64, discards []string, contact bool) error {
		if err := save(dbID, mark, discards, contact); err != nil {
			saveErr = err
			return err
		}
		if !noted && dbID != "" {
			// Its XSHADOW reply carried dbID, saved: whether its EHLO
			// advertised the database digest tells a primary of an
			// earlier release, whose refusals without one are its own
			// (package shadow earlierrelease.go).
			noted = true
			noteDigest(st, primary, dbID, c)
		}
		return nil
	}), c)
	if saveErr != nil && err == saveErr {
		return err // the save's own failure (shadow.SaveError), told as it is
	}
	return boundCut(ctx, steps.cutStep(), err) // the step in flight when the bound ran out
}

// stepSave is the heartbeat's step while this server saves a batch of
// the primary's discard notifications (its own store): a bound run out
// there is no silence of the primary's.
const stepSave = "saving the primary's discard notifications here"

// heartbeatSteps is the step of a heartbeat in flight and the one in
// flight when its bound ran out. The step read once the session returned
// named the next one after a cut in a save here: the query the closed
// connection then failed, the primary blamed for this server's slow
// store (holders49 item 3).
type heartbeatSteps struct {
	mu       sync.Mutex
	now, cut string
}

// set moves to step; when ctx ended before it, the step it leaves is the
// one the bound cut (whether or not ctx's AfterFunc ran yet).
func (s *heartbeatSteps) set(ctx context.Context, step string) {
	s.mu.Lock()
	if s.cut == "" && ctx.Err() != nil {
		s.cut = s.now
	}
	s.now = step
	s.mu.Unlock()
}

// bound notes the step in flight as the one the bound cut (the first
// call only).
func (s *heartbeatSteps) bound() {
	s.mu.Lock()
	if s.cut == "" {
		s.cut = s.now
	}
	s.mu.Unlock()
}

// cutStep is the step the bound cut, or the step in flight when it did
// not cut one.
func (s *heartbeatSteps) cutStep() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut != "" {
		return s.cut
	}
	return s.now
}

// stepCutError is a heartbeat its bound cut off, with the step then in
// flight (shadow.HeartbeatStepper): the shadow manager says which step the
// primary did not answer.
type stepCutError struct {
	step string
	err  error
}

func (e *stepCutError) Error() string {
	return e.step + " cut off by the heartbeat's bound: " + e.err.Error()
}
func (e *stepCutError) Unwrap() error         { return e.err }
func (e *stepCutError) HeartbeatStep() string { return e.step }

// boundCut is err, a heartbeat's failure, with the step in flight when
// ctx's bound (not this server's stop) ended it.
func boundCut(ctx context.Context, step string, err error) error {
	if err == nil || ctx.Err() == nil || cutByOwnStop(ctx) {
		return err
	}
	if step == stepSave {
		return &localStepCutError{stepCutError{step: step, err: err}}
	}
	return &stepCutError{step: step, err: err}
}

// localStepCutError is a heartbeat its bound cut off in a step of this
// server's own (stepSave): the primary answered every command, so it is
// this server's fault (shadow.LocalFault), no failed heartbeat of the
// primary's.
type localStepCutError struct{ stepCutError }

func (*localStepCutError) LocalFault() {}

// earlierRelease: the shadow recorder holds primary proved of a release
// that advertises no database digest (DigestNoter's record).
func earlierRelease(st *state, primary string) bool {
	er, ok := st.cfg.Shadows.(interface{ EarlierRelease(string) bool })
	return ok && er.EarlierRelease(primary)
}

// DigestNoter learns what a completed heartbeat proved of the primary:
// the database id of its XSHADOW reply and the digest its EHLO
// advertised ("" when none: shadow.Recorder.SessionDigest).
type DigestNoter interface {
	SessionDigest(primary, dbID, digest string)
}

// queryAll is the heartbeat's XSHADOW and XQUERYDISCARD loop. Each batch
// is saved before the next command (the next query, QUIT) goes out: that
// command tells the primary to forget it (SR-15). A failed save returns
// at once; the deferred Close ends the session without another command.
func (d *Deliverer) queryAll(ctx context.Context, st *state, c *smtp.Client, step *heartbeatSteps, save func(dbID string, mark uint64, discards []string, contact bool) error) error {
	stop := context.AfterFunc(ctx, func() { step.bound(); c.Close() })
	defer stop()
	step.set(ctx, "XSHADOW")
	db, err := askShadow(c, watchID(st))
	if err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		step.set(ctx, "XQUERYDISCARD")
		ids, err := c.QueryDiscard(1000)
		if err != nil {
			return err // the batches read are saved already
		}
		last := len(ids) < 1000 || i == 99
		step.set(ctx, stepSave)
		if err := save(db, c.DiscardMark, ids, last); err != nil {
			return err
		}
		if last {
			break
		}
	}
	step.set(ctx, "QUIT")
	quit(ctx, c) // the batches are saved: an unanswered QUIT loses none
	return nil
}

// askShadow is XSHADOW in a session with a primary (heartbeat, watch,
// reconciliation). One that offers no XSHADOW to this server is asked
// all the same, as a relay asks a transport server (openShadow): it
// answered, so its reply says why — a refusal (503 not offered, 550 not
// permitted), which the caller judges by the database digest the EHLO
// reply advertised (refusalIn; shadow doc.go: Judging a refusal): the
// primary's own digest says it is alive and holds its mail, and its
// copies are not taken over while it runs and delivers them; none says
// nothing, and the session fails as before. A primary that takes the
// unoffered verb is a session like any other.
func askShadow(c *smtp.Client, serverID string) (string, error) {
	db, err := c.Shadow(serverID)
	if errors.Is(err, smtp.ErrNoShadow) {
		db, err = c.ShadowUnoffered(serverID)
	}
	return db, err
}

// refusedError is a session to a primary that the primary answered with
// a refusal: a 5xx reply (to AUTH, to XSHADOW — not logged in, no
// rights —, to a query), or a 4xx to AUTH (a lockout). The primary is alive and speaking: the
// shadow manager does not count it as a failed heartbeat, which leads to
// a takeover, but logs the reply (Refusal) for the operator to fix.
type refusedError struct {
	reply *gosmtp.SMTPError
	// text stands for the reply where the primary refused this server's
	// login by offering none (smtp.ErrAuthNotOffered: its EHLO reply
	// lists no AUTH, or no mechanism umbra has): nothing was sent.
	text string
	err  error
	// digest is the database digest the primary advertised in the
	// session's EHLO (XSHADOWDB), "" when none (shadow.DatabaseDigester).
	digest string
}

// DatabaseDigest is the database digest the primary advertised before it
// refused (shadow.DatabaseDigester): a new one takes its copies over at
// once although the refused session never reached the XSHADOW reply.
func (e *refusedError) DatabaseDigest() string { return e.digest }

func (e *refusedError) Error() string { return "refused by the primary: " + e.Refusal() }
func (e *refusedError) Unwrap() error { return e.err }

// Refusal is the primary's whole reply (shadow.Refusal): code, enhanced
// status code when it sent one (535 5.7.8), text.
func (e *refusedError) Refusal() string {
	if e.reply == nil {
		return e.text
	}
	return strings.TrimSpace(smtp.Reply(e.reply))
}

// refusal marks err as a refusal when it is a 5xx reply of the primary,
// or a reply refusing this server's login (535 for a removed account or
// a changed password, 454 while the primary's lockout holds the
// address): the primary is up and answering, only not to this server.
// A 421 is never one, not even to AUTH: the server is closing the
// connection (shutting down, overloaded), it refuses nobody (rt18 F5).
func refusal(err error) error {
	var af *authFailed
	isAuth := errors.As(err, &af)
	if isAuth && errors.Is(err, smtp.ErrAuthNotOffered) {
		// The primary answered its EHLO and offers this server no login
		// (credentials never go to a host that did not offer AUTH): up
		// and speaking, only not to this server, as a 5xx to AUTH was.
		return &refusedError{text: smtp.Reply(af.err), err: err, digest: af.peerDigest}
	}
	var rerr *gosmtp.SMTPError
	if err == nil || !errors.As(err, &rerr) {
		return err
	}
	if (rerr.Code < 500 || rerr.Code > 599) && !(isAuth && rerr.Code >= 400 && rerr.Code != 421) {
		return err
	}
	r := &refusedError{reply: rerr, err: err}
	if isAuth {
		r.digest = af.peerDigest
	}
	return r
}

// refusalIn is refusal for an error of session c after its login: the
// refusal carries the database digest c's EHLO advertised.
func refusalIn(err error, c *smtp.Client) error {
	err = refusal(err)
	if r, ok := err.(*refusedError); ok && r.digest == "" {
		r.digest = c.PeerDatabaseDigest()
	}
	return err
}
