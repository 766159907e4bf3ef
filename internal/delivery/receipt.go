package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"umbra/internal/config"
	"umbra/internal/mailaddr"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/smtp"
)

// ReceiptShadow makes shadow copies on receipt (SPEC SR-17): for a
// receive session waiting for its 250, it finds a transport server of the
// organisation by preference and pushes the copy there in a shadow
// session (XSHADOW, then MAIL … XSHADOWCOPY=, version 3 of the verbs;
// to a version-5 peer in one round trip, smtp.PushCopy; to a version-6
// peer in batches with other sessions' copies, receiptbatch.go).
// The peer then watches this server as its primary. Sessions are kept
// open and reused, one transfer at a time each, so that a copy costs
// the transfer and the peer's commit, not a connection.
//
// Retries: prefer-remote tries up to max_retries_remote_site_shadow
// servers of other sites (nearest site first), then up to
// max_retries_local_site_shadow of this site; remote-only and local-only
// only the one kind. Each try is one server, and no server is tried
// twice for one copy (the budget is spent on distinct servers; a peer
// that failed moves the copy on to the next). Servers that failed
// recently — marked in destination health by a failed copy, relay or
// heartbeat — are tried after every unmarked one. Servers of a version
// that keeps no copies (XSHADOW below 3) count as failed tries.
type ReceiptShadow struct {
	d    *Deliverer
	dbID string // this server's transport database id, presented with every copy

	next atomic.Uint64 // rotates the first candidate, to spread copies

	holders HolderRecorder // records each shadow server's database id (recopy.go), or nil
	// restoredAnswered: the transport servers whose probe, this start,
	// answered a restored database's questions whole (restoredask.go).
	restoredAnswered sync.Map
	// askedFrom: lower-cased server name → true when its last probe
	// asked with FROM= (a peer of shadow verbs 22 or later), so that
	// its answer may list the TAKEN lines of the handed copies; only
	// such an answer is kept across starts (restoredAnswer).
	askedFrom sync.Map
	store     RecopyStore // the holders' queue when it is one: refused copies made on the next candidate (recopy.go)
	// hungAt: mailaddr.NameKey of a shadow server → time.Time its
	// last push of a copy, or hand-over of discards before a 250, ran
	// out of its bound, until a push to it is confirmed: the discards
	// owed to it are not handed before a 250 meanwhile
	// (handMayHoldDiscards, hungLately).
	hungAt sync.Map
	// watchMissed: mailaddr.NameKey of a shadow server → its
	// acknowledgement count (queue DiscardAcks) read before a wait for
	// its watch session's fetch that ran out: not waited for again
	// while the count stays (watchSilent).
	watchMissed sync.Map

	mu   sync.Mutex
	idle map[string][]*receiptConn
	// closed: Close ran; a session given back since (a push under way
	// at the stop) is ended, not pooled (putIdle).
	closed bool
	// endMu guards ending, the sessions endApart is ending (Close waits
	// for them, each bounded by its QUIT's), and endDone, signalled when
	// it drops to none. Not a WaitGroup: endApart may begin one while
	// Close waits (a session taken from the pool at the stop).
	endMu   sync.Mutex
	ending  int
	endDone *sync.Cond
	batches map[string]*copyBatcher // by shadow server name (receiptbatch.go)
	// receipts: messages whose copy on receipt a receive session is
	// making (HoldRecopy, recopy.go), by the sessions holding each.
	receipts map[queue.ID]int

	refusedIDs sync.Map     // lower-cased server name ‖ 0 ‖ database id → struct{}: its refusal was logged (recopy.go holderSeen)
	refusedN   atomic.Int64 // entries of refusedIDs
	// judgedCopied: mailaddr.NameKey of a shadow server → *copiedMark,
	// while it is judged a copied data dir (recopy.go holderSeen): it is
	// tried last for copies on receipt (marked).
	judgedCopied sync.Map
	// sessionRefusals: mailaddr.NameKey of a server id whose shadow
	// sessions this server's receive side refused since the last one
	// let in (smtp.SessionNoter) → *sessionRefusal (refusedretry.go).
	sessionRefusals sync.Map
	// refusedStore keeps sessionRefusals across restarts (WithHolders);
	// refusedMu orders each change of a record in sessionRefusals that
	// is written there with its write.
	refusedStore RefusedHereStore
	refusedMu    sync.Mutex
	// sessionsLetIn: mailaddr.NameKey of a server id → unix nanoseconds
	// of its last shadow session let in here (refusedretry.go).
	sessionsLetIn sync.Map
	// holderAsked: mailaddr.NameKey of a server id → unix nanoseconds of
	// the last query its shadow sessions made here (ShadowSessionAsked;
	// silentholders.go).
	holderAsked sync.Map
	// silentSince: unix nanoseconds of the first holderSilent, the start
	// of the wait of a holder that made no query here since this start.
	silentSince atomic.Int64
	// refusalWarned: mailaddr.NameKey of a server id → unix nanoseconds
	// of the last WARN of a refusal of its sessions (refusalWarnDue).
	refusalWarned sync.Map
	// statedAs: mailaddr.NameKey of a shadow server as dialled → the
	// NameKey of the name its last session to here stated, when another
	// (refusalKey): the key its sessions' refusal is kept under.
	statedAs sync.Map
	// now is the clock of those two records (nil: time.Now; a test's
	// fake clock).
	now func() time.Time
	// probeRefusals: lower-cased server name → the reply with which it
	// refuses this server's probe, while it does (recopy.go probeRefused).
	probeRefusals sync.Map
	// keptFrom: lower-cased server name → the message id the next
	// question about the copies kept there starts after (recopy.go
	// askKept): a holder of many copies is asked about them over
	// several probes.
	keptFrom sync.Map
	// probeAnswered: lower-cased server name → true when its last probe
	// read its database id, false when it did not (one cut by the caller
	// too). A copy taken as lost on a holder no probe reached is made
	// there again only once a probe answers (recopy.go unreachedHolder);
	// none yet this start is no answer.
	probeAnswered sync.Map
}

type receiptConn struct {
	c    *smtp.Client
	used time.Time
	// st: the configuration the session was opened under. A reload
	// makes another (Deliverer.Reload), and the session is not handed
	// out under it (takeIdle): it goes to the address and through the
	// connector the old one gave the server, which the probe of it and
	// every new session no longer take.
	st *state
}

// receiptIdle is how long an unused shadow session is kept; the peer's
// idle timeout is longer by default (5 min).
const receiptIdle = time.Minute

// receiptTry bounds one try (connection, EHLO, TLS, XSHADOW): a waiting
// sender must not wait a full connect timeout per server.
var receiptTry = 10 * time.Second // a var for the tests

// errTryBound is the cause of a try's context whose own bound ran out
// (boundedTry): the peer's silence past it. A try whose caller ended
// first — this server's stop cutting a receive session or a made-again
// pass — has the caller's cause: the peer did nothing wrong, and is not
// taken for one that hung (rcpt44 item 3).
var errTryBound = errors.New("the try's bound ran out")

// boundedTry is ctx bounded by d for one try of a shadow server
// (ranOutOfBound).
func boundedTry(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errTryBound)
}

// ranOutOfBound reports whether ctx, made by boundedTry (or derived from
// one), ended because a try's own bound ran out, not because its caller
// ended.
func ranOutOfBound(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errTryBound) }

// cutByCaller is err, a try's failure, when ctx ended it: a push
// that ran out of its own bound is smtp.ErrCopyTimedOut (the server
// hangs: hungAt, the next candidate); one whose caller ended (the stop)
// says so, and is no timeout of the server's. err is quoted, not
// wrapped: a reply within it (a MAIL refused, then no reply to the
// rest) would make the cut try a refusal of the copy (refusedCopy) —
// for a batch, a refusal of each copy in it — and the server that hung
// would get no hungAt (shadow45 item 2).
//
// A try whose session's own deadline ran out first (sessionTimedOut) is
// a timed-out try as well: the bound and the deadline say one thing.
func cutByCaller(ctx context.Context, what string, err error) error {
	switch {
	case ranOutOfBound(ctx):
		return fmt.Errorf("%s not pushed within %s: %w: %v", what, receiptTry, smtp.ErrCopyTimedOut, err)
	case ctx.Err() == nil:
		return fmt.Errorf("%s not answered within the session's timeout: %w: %v", what, errSessionTimedOut, err)
	}
	return fmt.Errorf("%s cut short by this server's end (%w): %v", what, context.Cause(ctx), err)
}

// errSessionTimedOut is smtp.ErrCopyTimedOut (errors.Is) for a try
// whose session's deadline ran out before its bound (sessionTimedOut):
// what reports the try names that timeout, not receiptTry, which never
// ran out (a made-again pass said "not answered within 10s" of a push
// given up after a command_timeout of 300 ms).
var errSessionTimedOut = fmt.Errorf("%w (its session's command_timeout or data_timeout ran out)", smtp.ErrCopyTimedOut)

// cutTry is cutByCaller for a push over c, with what the server kept:
// nothing when err carries a reply of the server's (a MAIL refused, then
// no reply to the rest: the client joins that refusal to the loss after
// it, pushone.go and batch.go; a copy refused, then its RSET unanswered)
// — quoted by cutByCaller, the refusal no longer showed, and the push,
// its data sent in the envelope's write, read as one that may have left
// the copy there (mayHoldAfter): the server was counted as a holder of
// it and owed its discard (rdshadow45) — else unlessDataSent's answer.
// A peer of version 5 keeps a copy all or nothing, and a transaction
// whose MAIL was refused holds none (rcpt43 item 2).
func cutTry(c *smtp.Client, ctx context.Context, what string, err error) error {
	cut := cutByCaller(ctx, what, err)
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return &nothingHeldError{cut}
	}
	return unlessDataSent(c, cut)
}

// sessionTimedOut reports whether err, a push's failure within its
// try's bound (ctx not ended), is its session's deadline run out — the
// client's command_timeout or data_timeout, os.ErrDeadlineExceeded:
// with command_timeout under receiptTry it fires first, and the peer's
// silence is the same as at the bound. Taken for a broken session, it
// had a second session opened to the hung server and no hungAt
// recorded (shadow45 item 3).
func sessionTimedOut(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded)
}

// peerSilent reports whether err, a failed step with a shadow server
// under ctx — its connect, its greeting, XSHADOW, a push, a hand-over of
// discards —, is that server's silence: ctx's own bound ran out
// (boundedTry), or, ctx alive, a timeout of the step's own ran out
// first: the session's command_timeout or data_timeout
// (sessionTimedOut), or the connect timeout (a net.Error that is a
// timeout: the dialer's "i/o timeout"). Every such hang marks the
// server (hungAt) the same way; a connect timeout in the hand-over, or a
// server silent at XSHADOW past command_timeout, marked nothing, and the
// next receipts waited for it again (rcpt47 item 4). Never when ctx's
// caller ended it (the stop): the server did nothing wrong.
func peerSilent(ctx context.Context, err error) bool {
	if ranOutOfBound(ctx) {
		return true
	}
	if err == nil || ctx.Err() != nil {
		return false
	}
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// maxIdleReceipt bounds the sessions kept per shadow server.
const maxIdleReceipt = 64

// NewReceiptShadow returns the copier of this server (transport database
// dbID); its retry budgets are the deliverer's configuration
// (Config.ShadowRetriesRemote and …Local, reloaded with it).
func NewReceiptShadow(d *Deliverer, dbID string) *ReceiptShadow {
	return &ReceiptShadow{d: d, dbID: dbID, idle: map[string][]*receiptConn{}, batches: map[string]*copyBatcher{}, receipts: map[queue.ID]int{}}
}

// ErrNoShadowServer is returned by Open when no candidate took a session.
var ErrNoShadowServer = errors.New("no shadow server took the copy")

// noCandidateError is Open's ErrNoShadowServer when no candidate was
// left to try (the preference's candidates all tried, or none): told
// apart by its type, never by its text (a candidate's refusal, which
// the other ErrNoShadowServer quotes, may say anything).
type noCandidateError struct{ pref string }

func (e *noCandidateError) Error() string {
	return ErrNoShadowServer.Error() + ": no candidate for " + e.pref
}

func (e *noCandidateError) Unwrap() error { return ErrNoShadowServer }

// noCandidate: err is Open's answer that no candidate was left.
func noCandidate(err error) bool {
	var nc *noCandidateError
	return errors.As(err, &nc)
}

// Open implements smtp.ReceiptShadow.
func (r *ReceiptShadow) Open(ctx context.Context, pref string) (smtp.ReceiptLink, error) {
	l, err := r.open(ctx, pref, nil, false)
	if err != nil {
		return nil, err // not a nil *receiptLink in the interface
	}
	return l, nil
}

// OpenVerified implements smtp.VerifiedReceiptShadow: Open for a
// REQUIRETLS message's copy (RFC 8689), whose session's certificate is
// verified for the server's name (dialPrimaryTLS): a pooled session only
// when it was, else a new one. A candidate whose certificate does not
// verify is passed over — not marked failing: it answers — and with none
// left the receive connector's shadow-failure rule decides, before the
// commit (reject_on_shadow_failure).
func (r *ReceiptShadow) OpenVerified(ctx context.Context, pref string) (smtp.ReceiptLink, error) {
	l, err := r.open(ctx, pref, nil, true)
	if err != nil {
		return nil, err
	}
	return l, nil
}

var _ smtp.VerifiedReceiptShadow = (*ReceiptShadow)(nil)

// OpenFor implements smtp.SizedReceiptShadow: Open (OpenVerified with
// verify) for m's copy (body: its stored bytes).
func (r *ReceiptShadow) OpenFor(ctx context.Context, pref string, m *queue.Message, body queue.Body, verify bool) (smtp.ReceiptLink, error) {
	l, err := r.openSized(ctx, pref, nil, verify, copyLimitSize(r.d.st.Load(), m, body))
	if err != nil {
		return nil, err
	}
	return l, nil
}

var _ smtp.SizedReceiptShadow = (*ReceiptShadow)(nil)

// errHolderRefusedHere is a shadow server judged a copied data dir: it
// presents a database id kept here as another server's and states a
// name of its own that is not that server's (its sessions are refused
// here), or states that server's name while this server's topology
// lists that server at another address (two hosts state the name; dial).
// No copy on receipt is made there; it is marked refusedKey for the
// operator (queue destinations), not as a server that failed, and tried
// last by the receipt path's own judgement (marked, judgedLate).
var errHolderRefusedHere = errors.New("no copy on a shadow server whose sessions are refused here")

// errNotVerified is a session that could not have TLS verified for the
// server's name (OpenVerified, a REQUIRETLS copy).
var errNotVerified = errors.New("REQUIRETLS: no TLS verified for the shadow server's name")

// open is Open after the copy was refused by the servers tried (by
// name): they are not tried again, and each counts against the retry
// budget of its kind (this site's, the other sites'). verify: only
// sessions whose certificate was verified (OpenVerified).
func (r *ReceiptShadow) open(ctx context.Context, pref string, tried map[string]bool, verify bool) (*receiptLink, error) {
	return r.openSized(ctx, pref, tried, verify, 0)
}

// openSized is open for a copy of size bytes as sent (0: not known): a
// candidate whose SIZE is below it is passed over (copySizeRefusal).
func (r *ReceiptShadow) openSized(ctx context.Context, pref string, tried map[string]bool, verify bool, size int64) (*receiptLink, error) {
	return r.openPlan(ctx, pref, tried, verify, size, "")
}

// openPlan is openSized with one more candidate, former (""), tried
// after every one of the preference: the server a copy made again was
// on before it lost it (recopy formerHolder). It is a transport server
// that kept the copy for this server, and it may be the only one a hub
// has — the edge that relayed the message, in an organisation of one
// hub or while the other hubs are down (rt32a F1): copies on receipt
// go to hubs only (ShadowCandidates), and without it the copy a
// returning edge lost would never be made again.
func (r *ReceiptShadow) openPlan(ctx context.Context, pref string, tried map[string]bool, verify bool, size int64, former string) (*receiptLink, error) {
	st := r.d.st.Load()
	if st.cfg.Topology == nil || st.cfg.ShadowServerID == "" {
		return nil, fmt.Errorf("%w: no topology", ErrNoShadowServer)
	}
	same, other := st.cfg.Topology.ShadowCandidates(st.cfg.LocalServer)
	marked := r.marked(r.clock())
	var plan []*routing.Server
	// One turn per copy: with one per kind, prefer-remote would add two
	// each time, and a kind of an even number of servers would start at
	// the same one for every copy (rt30 F2: every copy to one hub).
	turn := r.next.Add(1)
	add := func(list []*routing.Server, budget int) {
		var left []*routing.Server
		for _, s := range list {
			if tried[s.Name] {
				budget--
				continue
			}
			left = append(left, s)
		}
		plan = append(plan, receiptTries(marked, left, turn, budget)...)
	}
	switch pref {
	case config.ShadowOnReceiptPreferRemote:
		add(other, st.cfg.ShadowRetriesRemote)
		add(same, st.cfg.ShadowRetriesLocal)
	case config.ShadowOnReceiptRemoteOnly:
		add(other, st.cfg.ShadowRetriesRemote)
	case config.ShadowOnReceiptLocalOnly:
		add(same, st.cfg.ShadowRetriesLocal)
	}
	plan = healthyFirst(marked, plan)
	if f := formerCandidate(st, former); f != nil && !tried[f.Name] && !slices.ContainsFunc(plan, func(s *routing.Server) bool { return s.Name == f.Name }) &&
		formerWithinBudget(st, f, plan, tried) {
		plan = append(plan, f) // last: after the preference's, marked or not
	}
	// passed: the candidates tried before the link, each a try of the
	// budgets (receiptLink.passed).
	var errs, passed []string
	sizeOnly, largest := 0, int64(0) // candidates that refused for their SIZE only, and the largest
	for _, s := range plan {
		if ctx.Err() != nil {
			break
		}
		c, err := r.session(ctx, st, s, verify, size)
		if err != nil {
			why := r.dialFailed(ctx, st, s, err)
			errs = append(errs, s.Name+": "+strings.TrimPrefix(why, "shadow copy on receipt: "))
			passed = append(passed, s.Name)
			continue
		}
		r.d.health.Responsive(s.Name, s.Address) // it answers; a refusal of copies stays marked (copiesKey)
		if reply := copySizeRefusal(c, s.Name, size); reply != "" {
			// Over its own SIZE: no copy there, and not a failing
			// server (smaller copies still go to it); the session
			// stays for them.
			limit, _ := c.MaxMessageSize()
			sizeOnly, largest = sizeOnly+1, max(largest, int64(limit))
			r.putIdle(s.Name, c, st)
			errs = append(errs, s.Name+": "+reply)
			passed = append(passed, s.Name)
			continue
		}
		return &receiptLink{r: r, srv: s, c: c, st: st, verified: verify, passed: passed, passedWhy: errs}, nil
	}
	if len(plan) == 0 {
		return nil, &noCandidateError{pref: pref}
	}
	err := fmt.Errorf("%w: %s", ErrNoShadowServer, strings.Join(errs, "; "))
	if sizeOnly == len(plan) {
		// Every candidate over its SIZE (each read on a fresh session:
		// session): retrying cannot help (rt17e-F2).
		return nil, &smtp.CopyTooLargeError{Limit: largest, Size: size, Err: err}
	}
	return nil, err
}

// formerWithinBudget reports whether the former holder f is a try the
// retry budget of its kind still allows (receipt42 item 3): the budget
// of this site's servers for one of this site, of the other sites' for
// one of another, counting the servers tried already (tried) and the
// plan's of that kind. Appended past a spent budget it was one try over
// it — on a pass after the copy failed there, the server it failed on.
func formerWithinBudget(st *state, f *routing.Server, plan []*routing.Server, tried map[string]bool) bool {
	site := ""
	if me, ok := st.cfg.Topology.Server(st.cfg.LocalServer); ok {
		site = me.Site
	}
	budget := st.cfg.ShadowRetriesRemote
	if f.Site == site {
		budget = st.cfg.ShadowRetriesLocal
	}
	counted := map[*routing.Server]bool{} // once each: tried may hold one server under two spellings (recopy)
	for name, t := range tried {
		if s, ok := st.cfg.Topology.Server(name); ok && t && (s.Site == site) == (f.Site == site) {
			counted[s] = true
		}
	}
	for _, s := range plan {
		if (s.Site == site) == (f.Site == site) {
			counted[s] = true
		}
	}
	return len(counted) < budget
}

// formerCandidate is the server named former as a candidate for a copy
// made again (openPlan): a transport server (hub or edge) of the
// topology other than this one; nil for any other name, or "".
func formerCandidate(st *state, former string) *routing.Server {
	if former == "" || st.cfg.Topology == nil {
		return nil
	}
	s, ok := st.cfg.Topology.Server(former)
	if !ok || s.Name == st.cfg.LocalServer || s.Role != routing.RoleHub && s.Role != routing.RoleEdge {
		return nil
	}
	if me, ok := st.cfg.Topology.Server(st.cfg.LocalServer); ok && me == s {
		return nil
	}
	return s
}

// copyLimitSize is the size of m's copy (body: its stored bytes) held to
// a shadow server's SIZE: a transport server's SIZE is its
// max_message_size, which it holds the sender's message to and lets the
// organisation's servers exceed by the header fields umbra's hops add
// (smtp transportsize.go) — so umbra's own bytes are not counted
// (ownBytes: its trace fields, what the receiving session added to the
// content), nor the organisation id lines the push puts in front.
func copyLimitSize(st *state, m *queue.Message, body queue.Body) int64 {
	return body.Len() - ownBytes(st, m, body.Head(), body.Len())
}

// copySizeRefusal is hopSizeRefusal for a shadow copy of size bytes
// (copyLimitSize) to the server name on session c: "" when c declared no
// fixed limit, or size is within it (or not known: 0).
func copySizeRefusal(c *smtp.Client, name string, size int64) string {
	limit, ok := c.MaxMessageSize()
	if !ok || limit <= 0 || size <= int64(limit) {
		return ""
	}
	return fmt.Sprintf("552 5.3.4 %s takes messages of at most %d bytes (its SIZE), this copy is %d bytes", name, limit, size)
}

// refused reports a shadow server that refused this server's session
// for copies on receipt (its login, or XSHADOW: no right to the shadow
// verbs): at WARN with its reply, paced per server by the shadow
// recorder (at most once a minute), and counted there (session
// "receipt"; a new database digest of a server that is also a primary
// of this one takes its copies over). Copies go to the other candidates
// meanwhile, or none is made.
// dialFailed records a session to shadow server s that could not be
// had for copies on receipt (err from dial: the first of an Open, or a
// push's second session, receiptLink.Push, push2), the same way
// whichever dial it was: a refused session is recorded as refused
// (refused: shadow list, its counter, WARN); a server judged a copied
// data dir here (errHolderRefusedHere) is marked refusedKey (queue
// destinations; tried last by judgedLate), not as a server that
// failed; any other failure but a session without copies or without
// verified TLS or one of this server's own making (localFault: a source
// address it cannot bind), the caller's context alive, marks the server
// itself.
// It returns the reason, "shadow copy on receipt[ refused]: …".
func (r *ReceiptShadow) dialFailed(ctx context.Context, st *state, s *routing.Server, err error) string {
	why := "shadow copy on receipt: " + err.Error()
	var ref *refusedError
	if errors.As(err, &ref) {
		why = "shadow copy on receipt refused: " + ref.Refusal()
		r.refused(st, s, ref)
	}
	if errors.Is(err, errHolderRefusedHere) {
		r.d.health.Unresponsive(time.Now(), why, refusedKey(s.Name)) // shown in queue destinations; tried last by judgedLate
	} else if !errors.Is(err, smtp.ErrNoCopies) && !errors.Is(err, errNotVerified) && !localFault(err) && ctx.Err() == nil {
		// Tried last from now on, as delivery and heartbeats
		// mark a server that did not answer (SR-16) — or
		// refuses: queue destinations shows why.
		r.d.health.Unresponsive(time.Now(), why, s.Name, s.Address)
	}
	return why
}

func (r *ReceiptShadow) refused(st *state, s *routing.Server, ref *refusedError) {
	warn := true
	if rr, ok := st.cfg.Shadows.(RefusalRecorder); ok {
		warn = rr.SessionRefused(s.Name, "receipt", ref.Refusal(), ref.DatabaseDigest())
	}
	if warn {
		r.d.log.Warn("shadow server refused the session for copies on receipt", "shadow_server", s.Name, "addr", s.Address,
			"reply", ref.Refusal())
	}
}

// receiptProbe is how often a candidate destination health marks is
// tried in its normal place anyway (queue.Health.Probe): else a peer
// marked once (one hung push) would never be tried again while another
// candidate answers, and prefer-remote would keep every copy in this
// site.
var receiptProbe = time.Minute // a var for the tests

// marked returns the predicate of one Open: a server destination health
// marks, unless this Open is its probe.
func (r *ReceiptShadow) marked(now time.Time) func(*routing.Server) bool {
	h := r.d.health
	seen := map[*routing.Server]bool{}
	return func(s *routing.Server) bool {
		if v, ok := seen[s]; ok {
			return v
		}
		// Not the relays' refused:NAME mark: a server met under a
		// second name keeps it (its relays are refused by design), yet
		// it is promised its copy; the receipt path's own judgement
		// (judgedLate) puts a copied data dir last (rr25 F2).
		v := h != nil && h.Unhealthy(s.Name, s.Address, copiesKey(s.Name)) &&
			!h.Probe(now, receiptProbe, s.Name, s.Address, copiesKey(s.Name))
		v = v || r.judgedLate(now, s.Name) || r.refusedLate(now, s.Name)
		seen[s] = v
		return v
	}
}

// receiptTries picks up to budget tries from list, each server once:
// the servers destination health has no mark for first, site by site in
// the list's order (ShadowCandidates: the other sites nearest first by
// topology cost) and rotated by turn within a site to spread copies over
// its servers, then the marked ones (a dead or
// unanswering server, SR-16: one that failed a copy, a relay or a
// heartbeat, until it answers again), which a waiting sender's copy
// reaches only when every other failed. A server is never tried twice
// for one copy: a try that failed moves the copy on to the next server
// of the preference (prefer-remote: the other sites', then this
// site's) instead of spending the budget on a peer that just failed.
func receiptTries(marked func(*routing.Server) bool, list []*routing.Server, turn uint64, budget int) []*routing.Server {
	if len(list) == 0 || budget <= 0 {
		return nil
	}
	var ok, late []*routing.Server
	for start := 0; start < len(list); {
		end := start + 1
		for end < len(list) && list[end].Site == list[start].Site {
			end++
		}
		site := list[start:end]
		off := int(turn % uint64(len(site)))
		for i := range site {
			s := site[(off+i)%len(site)]
			if marked(s) {
				late = append(late, s)
			} else {
				ok = append(ok, s)
			}
		}
		start = end
	}
	order := append(ok, late...)
	return order[:min(budget, len(order))]
}

// healthyFirst keeps the order of plan but puts the servers destination
// health marks (failed recently: a copy, a relay or a heartbeat) after
// every unmarked one, across the preference's kinds: prefer-remote with
// the other site's server marked tries this site's first, and the
// marked one only when they failed too.
func healthyFirst(marked func(*routing.Server) bool, plan []*routing.Server) []*routing.Server {
	out := make([]*routing.Server, 0, len(plan))
	var late []*routing.Server
	for _, s := range plan {
		if marked(s) {
			late = append(late, s)
		} else {
			out = append(out, s)
		}
	}
	return append(out, late...)
}

// session takes an idle shadow session to s or opens one (verify:
// one whose certificate was verified).
// An idle session the peer ended meanwhile (it died, or timed out the
// session) is closed, not handed out: the copy would fail on it after
// the commit named that peer (Client.Alive, no round trip). Nor is one
// whose SIZE, read at its EHLO, is below size (the copy's, 0: not
// known): the peer may have raised its limit by a reload since, and only
// a fresh session's EHLO says (rt17e-F2); that one is ended, so the pool
// keeps the current limit.
func (r *ReceiptShadow) session(ctx context.Context, st *state, s *routing.Server, verify bool, size int64) (*smtp.Client, error) {
	for c := r.takeIdle(s.Name, verify, st); c != nil; c = r.takeIdle(s.Name, verify, st) {
		if !c.Alive() {
			c.Close()
			continue
		}
		if copySizeRefusal(c, s.Name, size) != "" {
			r.endApart(c, c.QuitBounded)
			continue
		}
		if why := r.sessionsRefusedHere(s.Name, c.ShadowName); why != "" {
			// Its sessions here were refused since this one was
			// opened (or the topology changed by a reload): as at a
			// new session's XSHADOW reply, no copy there.
			r.endApart(c, c.QuitBounded)
			if rr, ok := st.cfg.Shadows.(interface{ HolderRefused() }); ok {
				rr.HolderRefused()
			}
			return nil, fmt.Errorf("%w: %s", errHolderRefusedHere, why)
		}
		return c, nil
	}
	return r.dial(ctx, st, s, verify)
}

func (r *ReceiptShadow) dial(ctx context.Context, st *state, s *routing.Server, verify bool) (*smtp.Client, error) {
	ctx, cancel := boundedTry(ctx, receiptTry) // its bound told from the caller's end (peerSilent)
	defer cancel()
	c, err := r.d.dialPrimaryTLS(ctx, st, s.Name, s.Address, verify) // logs in as heartbeats to s do (loginVia)
	if err != nil && verify && tlsFailed(err) {
		return nil, fmt.Errorf("%w: %v", errNotVerified, err) // it answers: not a refusal, not a failure of the server
	}
	if err != nil {
		r.noteSilent(ctx, s.Name, err) // its connect, greeting or EHLO timed out
		return nil, refusal(err)       // a refused login is a *refusedError with the peer's digest
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r.presentMark(c, s.Name) // before any commit names s on this session
	db, err := c.Shadow(st.cfg.ShadowServerID)
	if err != nil {
		c.Close()
		// Silent at XSHADOW past command_timeout (or the bound): it
		// hangs as one silent at the copy's MAIL does (rcpt47 item 4).
		r.noteSilent(ctx, s.Name, err)
		return nil, refusalIn(err, c)
	}
	// Before a copy's commit names s: a new database of s marks the
	// messages whose copies it lost (recopy.go). An id kept here as
	// another server's, presented by a server that states a name of its
	// own which is not that server's (shadow verbs 20): a second server
	// running a copy of the other's data dir (rt24a F1's class). Every
	// session it opens here is refused — its discard queries too —, so
	// a copy made on it could never be discarded, and it would take the
	// copy over at its expiry while this server delivers the original.
	// No copy there. The same id stated under the name it is kept as is
	// that server reached under a second name here (a typo, a rename in
	// the topology): no copy there either when this server's topology
	// lists that name at another address than s's — two hosts state it
	// (a copy of the data dir and of the configuration, rr25 F1), and a
	// copy filed under s could be discarded or taken over by either —
	// nor when the topology lists no transport server of that name: its
	// sessions, which open under it, are refused here
	// (sessionsRefusedHere). A server below 20 states no name: the copy
	// is made, as before.
	another, copied := r.holderSeen(s.Name, c.ShadowName, db)
	if copied == "" {
		// One rule with the receive side: a holder gets a copy only
		// if its sessions here — its discard queries, its heartbeats,
		// which present the name it states — are let in (rt28a F3).
		copied = r.sessionsRefusedHere(s.Name, c.ShadowName)
	}
	if copied != "" {
		// Its QUIT apart, off the receive session's path: a server
		// that never answers it cost the sender its bound (rcpt43
		// item 5).
		r.endApart(c, c.QuitBounded)
		if rr, ok := st.cfg.Shadows.(interface{ HolderRefused() }); ok {
			rr.HolderRefused()
		}
		return nil, fmt.Errorf("%w: %s", errHolderRefusedHere, copied)
	}
	// Where the copies on this session are made: their discards reach
	// the server there should the topology drop it (formerholders.go).
	r.noteHolderAddr(s.Name, s.Address)
	if h := r.d.health; h != nil && db != "" && !another {
		// An id of its own: a refusal of its sessions here (this
		// one's, or a relay's) ended.
		h.Responsive(refusedKey(s.Name))
	}
	if c.ShadowVersion < 3 {
		r.endApart(c, c.QuitBounded) // as above
		return nil, smtp.ErrNoCopies
	}
	c.SetHop(s.Name)
	return c, nil
}

// noteSilent marks server as one that hung (hungAt) when err, a step
// with it under ctx, is its silence (peerSilent): the discards owed to
// it are not pushed before the next 250s for hungPassedOver, each of
// which would wait for it again.
func (r *ReceiptShadow) noteSilent(ctx context.Context, server string, err error) {
	if peerSilent(ctx, err) {
		r.hungAt.Store(mailaddr.NameKey(server), r.clock())
	}
}

// tlsFailed: err is a session's TLS failure (smtp.ErrTLSUnavailable,
// or connectWith's 451 4.7.5 naming it: a tlsNotMetError, told by its
// type rather than its text).
func tlsFailed(err error) bool {
	var tn *tlsNotMetError
	return errors.Is(err, smtp.ErrTLSUnavailable) || errors.As(err, &tn)
}

// takeIdle takes the newest idle session to name (verify: the newest
// whose certificate was verified, the others left in the pool). A
// session idle receiptIdle or longer is closed, never handed out; so is
// one opened under a configuration other than st, the one in force
// (rr recopy39), to any server: a reload that moved a server's address
// (or the connector its sessions go through) left copies going over the
// session to the old one while its probe dialled the new one — the
// probe failed, its copies were taken as lost and made again over the
// old session, every pass. The delivery pool ends its sessions at a
// reload too (Deliverer.Reload).
func (r *ReceiptShadow) takeIdle(name string, verify bool, st *state) *smtp.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, list := range r.idle {
		if n == name {
			continue
		}
		kept := list[:0]
		for _, rc := range list {
			if rc.st != st {
				r.endApart(rc.c, rc.c.QuitBounded)
				continue
			}
			kept = append(kept, rc)
		}
		if len(kept) == 0 {
			delete(r.idle, n)
		} else {
			r.idle[n] = kept
		}
	}
	kept := r.idle[name][:0] // oldest first, as putIdle appends
	for _, rc := range r.idle[name] {
		if time.Since(rc.used) >= receiptIdle {
			r.endApart(rc.c, rc.c.Close)
			continue
		}
		if rc.st != st {
			r.endApart(rc.c, rc.c.QuitBounded)
			continue
		}
		kept = append(kept, rc)
	}
	var took *smtp.Client
	for i := len(kept) - 1; i >= 0; i-- {
		if !verify || kept[i].c.TLSVerified() {
			took = kept[i].c
			kept = append(kept[:i], kept[i+1:]...)
			break
		}
	}
	if len(kept) == 0 {
		delete(r.idle, name)
	} else {
		r.idle[name] = kept
	}
	return took
}

// putIdle pools c, a session to name opened under st (receiptConn.st);
// one opened under a configuration no longer in force is ended, and so
// is every one given back after Close (a push under way at the stop):
// pooled then, it got no QUIT (rcpt43 item 5).
func (r *ReceiptShadow) putIdle(name string, c *smtp.Client, st *state) {
	if !c.Settle() { // a transaction left open that RSET did not end (pool.go finishConn)
		c.Close()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.idle[name]) >= maxIdleReceipt || st != r.d.st.Load() {
		r.endApart(c, c.QuitBounded)
		return
	}
	r.idle[name] = append(r.idle[name], &receiptConn{c: c, used: time.Now(), st: st})
}

// Close ends every idle shadow session, all at once, each with its
// bounded QUIT (smtp.Client.QuitBounded), and returns when they are
// closed: serve closes it at the stop, which a shadow server that never
// answers a QUIT held for the command timeout per idle session, one
// after the other (up to maxIdleReceipt a server). A panic is recovered
// as endApart's is, the connection closed. A session given back after it
// is ended at once (putIdle), and Close waits for the sessions endApart
// is ending, each within its QUIT's bound.
func (r *ReceiptShadow) Close() {
	r.mu.Lock()
	idle := r.idle
	r.idle = map[string][]*receiptConn{}
	r.closed = true
	r.mu.Unlock()
	defer r.endingWait()
	var wg sync.WaitGroup
	for _, list := range idle {
		for _, rc := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if x := recover(); x != nil {
						r.d.recovered(PanicShadow, x, "next_hop", rc.c.Hop())
						rc.c.Close()
					}
				}()
				rc.c.QuitBounded()
			}()
		}
	}
	wg.Wait()
}

type receiptLink struct {
	r   *ReceiptShadow
	srv *routing.Server
	c   *smtp.Client
	st  *state // the configuration c was opened under (receiptConn.st)
	// verified: opened by OpenVerified (its sessions' certificates are
	// verified, the one a second try dials too).
	verified bool
	// passed: the candidates of the plan tried before this one that
	// took no session for the copy (down, of an older version, its SIZE
	// below the copy), and passedWhy what each said. Each was a try of
	// the retry budgets: a copy made again after this link's push
	// failed counts them as tried, never plans them again (rrmidpush41).
	passed, passedWhy []string
	// mayHold: a try of this link's push failed with no reply after
	// the copy was sent (a session that broke or hung: mayHoldAfter),
	// so the server may have stored the copy (MayHold).
	mayHold bool
}

// MayHold implements smtp.ReceiptLinkMayHold: a try of the push failed
// with no reply (the session broke, was reset, or hung past receiptTry),
// so the server may have stored the copy and is owed its discard. A
// push every try of which the server answered — a refusal, or a 421 at
// MAIL, RCPT, DATA or the data's end — left nothing there (receipt42
// item 2).
func (l *receiptLink) MayHold() bool { return l.mayHold }

var _ smtp.ReceiptLinkMayHold = (*receiptLink)(nil)

// mayHoldAfter reports whether a try of a push that failed with err may
// have left the copy stored on the server: no reply to read (EOF, reset,
// the try's bound) once the copy's data may have reached it. A reply —
// to MAIL, a RCPT, DATA or BDAT, or to the data's end, whatever its
// code — says the server kept nothing; so does a session of a version
// that keeps no copies (nothing sent), and a session lost before any
// byte of the data was written (nothingHeldError: at MAIL, at RCPT, at
// DATA before its 354; rcpt43 item 2).
func mayHoldAfter(err error) bool {
	var se *gosmtp.SMTPError
	var nh *nothingHeldError
	return err != nil && !errors.As(err, &se) && !errors.Is(err, smtp.ErrNoCopies) && !errors.As(err, &nh)
}

// nothingHeldError is a failed try of a push after which the server
// cannot hold the copy, though no reply of it says so: no byte of the
// copy's data was written to it (smtp.Client.DataSent false: the
// session was lost at MAIL, at RCPT, or at DATA before its 354; a copy
// queued behind a batch that hung), or it answered the batch the copy
// was in, refusing it whole. It is no server that may hold the copy
// (mayHoldAfter), and it is owed no discard; the failure is what it was
// otherwise (Unwrap: a timeout is still smtp.ErrCopyTimedOut).
type nothingHeldError struct{ err error }

func (e *nothingHeldError) Error() string { return e.err.Error() }
func (e *nothingHeldError) Unwrap() error { return e.err }

// unlessDataSent is err, from a push over c, as a nothingHeldError when
// no byte of the copy's data was written (smtp.Client.DataSent).
func unlessDataSent(c *smtp.Client, err error) error {
	if err == nil || c.DataSent() {
		return err
	}
	return &nothingHeldError{err}
}

func (l *receiptLink) Server() string { return l.srv.Name }

// TriedBefore implements smtp.ReceiptLinkTried: the candidates Open
// tried before this link's server (passed).
func (l *receiptLink) TriedBefore() []string { return slices.Clone(l.passed) }

// Push implements smtp.ReceiptLink: a session that broke (a reused one
// the peer closed meanwhile) is replaced once by a new one to the same
// server — the commit here already names it. When the second try fails
// as well (a 421, an EOF, a reset: the server stopping or killed), the
// receive side takes it as a failed try of the server and moves the
// copy to the next candidate (smtp receipt.go, midpush41). The first try goes in a
// batch with other sessions' copies to the server when it can
// (receiptbatch.go); the second goes alone.
//
// Each try is bounded by receiptTry, the second one's new session
// included. A try that ran out of its bound (smtp.ErrCopyTimedOut: a
// peer that took the session and hangs — a stopped process, a stalled
// disk) is not tried again on that server: a new session to it would
// hang too; the receive side moves the copy to the next candidate.
//
// A copy the server refuses (any reply to it: 452 4.3.1 from a full
// disk, 5xx) is not tried again on it: the server is marked in
// destination health for copies (copiesKey), so that the next copies
// and the made-again passes try the other candidates first, until a
// copy it keeps (a probe of it, receiptProbe) clears the mark. A push
// that fails without a reply (a broken session) marks the server itself,
// as a failed session does; one that ran out of its bound (hung) marks it
// both so and for copies (copiesKey): a stalled disk answers sessions,
// heartbeats and probes, which clear the first mark only (rcptmark45
// item 1).
//
// A REQUIRETLS message's copy goes only over TLS whose certificate was
// verified for the server's name (RFC 8689), never in a batch on another
// link's session (pushBatched). On a session that is not (shared
// copies' sessions have opportunistic TLS) it goes over a session of its
// own to the same server, verified (then pooled as any); when none can
// be had the copy is not pushed, and the server is not marked for it
// (it answers): the session stays for other copies.
func (l *receiptLink) Push(ctx context.Context, m *queue.Message, body queue.Body) error {
	if m.RequireTLS && l.c != nil && !l.c.TLSVerified() {
		st := l.r.d.st.Load()
		own := &receiptLink{r: l.r, srv: l.srv, st: st, verified: true}
		c, err := l.r.dial(ctx, st, l.srv, true)
		if err != nil {
			l.r.dialFailed(ctx, st, l.srv, err) // as the first dial's: a copied data dir or a refused session is no failed server
			return fmt.Errorf("REQUIRETLS: the copy is not pushed to shadow server %s without TLS verified for its name: %w", l.srv.Name, err)
		}
		own.c = c
		err = own.Push(ctx, m, body)
		own.Done(err == nil)
		l.mayHold = l.mayHold || own.mayHold
		return err
	}
	if l.c == nil {
		return errors.New("shadow copy on receipt: no session")
	}
	if reply := copySizeRefusal(l.c, l.srv.Name, copyLimitSize(l.r.d.st.Load(), m, body)); reply != "" {
		// Opened without the copy's size (Open): not sent, and the
		// server not marked (it answers, and takes smaller copies);
		// the receive side moves on to the next candidate.
		return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: strings.TrimPrefix(reply, "552 5.3.4 ")}
	}
	err := l.push2(ctx, m, body)
	h := l.r.d.health
	var redial *redialError
	switch {
	case errors.As(err, &redial):
		// The second session could not be had: recorded as the first
		// dial's failure is (dialFailed), nothing more.
	case err == nil:
		h.Responsive(copiesKey(l.srv.Name))
		l.r.hungAt.Delete(mailaddr.NameKey(l.srv.Name))
		l.r.copyMadeOn(l.srv.Name, l.c.ShadowName)
	case refusedCopy(err):
		h.Unresponsive(time.Now(), "shadow copy refused: "+smtp.Reply(err), copiesKey(l.srv.Name))
	case errors.Is(err, smtp.ErrCopyTimedOut):
		// Hung on the copy (its bound or its session's deadline ran
		// out; a push the caller cut is no timeout, cutByCaller). A
		// disk that stalled leaves sessions, heartbeats and probes
		// answered, and each cleared the mark of its name and address:
		// every later receipt pushed to it first again and waited the
		// whole bound (rcptmark45 item 1). Marked for copies as well,
		// apart (not linked to the name: Health.Responsive clears the
		// keys marked together), which only a copy or relay it keeps
		// clears; the once-a-minute probe (receiptProbe) finds it back.
		why := "shadow copy on receipt: " + err.Error()
		h.Unresponsive(time.Now(), why, l.srv.Name, l.srv.Address)
		h.Unresponsive(time.Now(), why, copiesKey(l.srv.Name))
	case ctx.Err() == nil:
		h.Unresponsive(time.Now(), "shadow copy on receipt: "+err.Error(), l.srv.Name, l.srv.Address)
	}
	return err
}

// redialError is a push whose session broke and whose second session to
// the same server could not be had (push2): its failure is recorded as
// a first dial's (dialFailed) — a server judged a copied data dir there,
// or refusing the session, is not marked as one that failed.
type redialError struct{ first, again error }

func (e *redialError) Error() string { return fmt.Sprintf("%v; again: %v", e.first, e.again) }
func (e *redialError) Unwrap() error { return e.again }

// refusedCopy reports whether err is the shadow server's reply refusing
// the copy (Push): the next candidate may keep it.
func refusedCopy(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code != 421 // 421: the server ended the session (an idle timeout), tried again
}

func (l *receiptLink) push2(ctx context.Context, m *queue.Message, body queue.Body) error {
	err := l.pushBatched(ctx, m, body)
	if err == nil || refusedCopy(err) {
		return err // a reply: the session is sound, the server refused
	}
	l.mayHold = l.mayHold || mayHoldAfter(err) // a second try's reply does not undo it
	if errors.Is(err, smtp.ErrCopyTimedOut) {
		// Hung (rt43 observation 1): a new session to it would hang as
		// well; the next candidate takes the copy (smtp receipt.go),
		// and the discards owed to it are not handed before the 250
		// (hungLately).
		l.r.hungAt.Store(mailaddr.NameKey(l.srv.Name), l.r.clock())
		l.c.Close()
		l.c = nil
		return err
	}
	l.c.Close()
	if ctx.Err() != nil {
		// The caller ended (the stop): no second session.
		l.c = nil
		return err
	}
	caller := ctx // whether the caller gave up (dialFailed), not this try's bound
	ctx, cancel := boundedTry(ctx, receiptTry)
	defer cancel()
	st := l.r.d.st.Load()
	c, derr := l.r.dial(ctx, st, l.srv, l.verified || m.RequireTLS)
	if derr != nil {
		l.c = nil
		// As the first dial's (dialFailed, judged by the caller's
		// context as Open's is); Push marks nothing more for it
		// (redialError).
		l.r.dialFailed(caller, st, l.srv, derr)
		return &redialError{first: err, again: derr}
	}
	l.c, l.st = c, st
	first := err
	err = l.push(ctx, m, body)
	if err == nil && mayHoldAfter(first) {
		// The repeat of a push left unconfirmed (its data sent, no
		// answer) went through: said once, as the failure of both tries
		// is (the receive side's INFO), or the operator never learns
		// that the first push's answer was lost (rt44 shadowrcpt3 F3);
		// the server keeps the copy once all the same (a repeat of one
		// it holds adds nothing, queue receiptcopy.go). A first
		// session lost before the data (a pooled one the peer closed)
		// is no news, and is not logged.
		l.r.d.log.Info("shadow copy pushed again on a new session, and kept: the first push's answer was lost",
			"msg_id", m.ID.String(), "shadow_server", l.srv.Name, "first_err", first)
	}
	l.mayHold = l.mayHold || mayHoldAfter(err)
	if errors.Is(err, smtp.ErrCopyTimedOut) {
		// The new session's push ran out of its own bound: the server
		// hangs as surely as when the first try did (rrrcpt44).
		l.r.hungAt.Store(mailaddr.NameKey(l.srv.Name), l.r.clock())
	}
	return err
}

func (l *receiptLink) push(ctx context.Context, m *queue.Message, body queue.Body) error {
	ctx, cancel := boundedTry(ctx, receiptTry)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { l.c.Close() })
	defer stop()
	err := l.c.PushCopyBody(m, body, l.r.dbID)
	if err != nil && (ctx.Err() != nil || sessionTimedOut(ctx, err)) {
		return cutTry(l.c, ctx, "shadow copy", err)
	}
	return unlessDataSent(l.c, err)
}

func (l *receiptLink) Done(ok bool) {
	if l.c == nil {
		return
	}
	if ok {
		l.r.putIdle(l.srv.Name, l.c, l.st)
	} else {
		l.c.Close()
	}
	l.c = nil
}

// copiesKey is the destination health key under which a shadow server
// that refused a copy, or hung on one (Push), is marked (queue.Health): apart from its name and
// address, which an answered session, heartbeat or probe clears — a
// server whose disk is full answers those and still refuses every copy.
// Only a copy it keeps clears this mark.
func copiesKey(name string) string { return CopiesKeyPrefix + name }

// CopiesKeyPrefix starts the destination health key of a server that
// refused a copy (copiesKey; queue destinations lists it as
// server:copies:NAME).
const CopiesKeyPrefix = "copies:"

// endingAdd counts d sessions more (fewer) under way in endApart.
func (r *ReceiptShadow) endingAdd(d int) {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	r.ending += d
	if r.ending == 0 && r.endDone != nil {
		r.endDone.Broadcast()
	}
}

// endingWait returns once no session is being ended by endApart.
func (r *ReceiptShadow) endingWait() {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.endDone == nil {
		r.endDone = sync.NewCond(&r.endMu)
	}
	for r.ending > 0 {
		r.endDone.Wait()
	}
}

// endApart ends a session of copies on receipt (end: its QUIT or its
// close) — an idle one, or one dial ends at once — on a goroutine of its
// own, so that no receive session waits for it; Close waits for it. A panic there is umbra's defect: recovered, counted and
// logged (panics.go, part shadow), the connection closed — never the
// daemon's end, with every session it serves.
func (r *ReceiptShadow) endApart(c *smtp.Client, end func() error) {
	r.endingAdd(1)
	go func() {
		defer r.endingAdd(-1)
		defer func() {
			if x := recover(); x != nil {
				r.d.recovered(PanicShadow, x, "next_hop", c.Hop())
				c.Close()
			}
		}()
		mayPanic(PanicShadow)
		end()
	}()
}
